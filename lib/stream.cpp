// The streams of the common item types, compiled once (see the end of stream.hpp).
#include <string>

#include <sluice/stream.hpp>

namespace sluice {

template class stream<int>;
template class stream<long>;
template class stream<unsigned long>;
template class stream<double>;
template class stream<std::string>;

}  // namespace sluice
