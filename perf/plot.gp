# Renders items per second per implementation for the chain and shapes workloads of sluice-perf
# as a bar chart on a log scale. perf/run-full makes the data file from sluice-perf's JSON:
#   gnuplot -c perf/plot.gp DATA PNG [TITLE]
# DATA has one line per row: position, workload, implementation, items/s, workload number
# (0 chain, 1 shapes); a blank position between the workloads leaves a gap.
if (ARGC < 2) { print "usage: gnuplot -c perf/plot.gp DATA PNG [TITLE]"; exit status 2 }
data = ARG1
title = ARGC >= 3 ? ARG3 : "sluice-perf"

set terminal pngcairo size 1280,640 enhanced font "sans,10"
set output ARG2
set title title noenhanced
set ylabel "items per second (log scale; higher is faster)"
set logscale y
set format y "10^{%L}"
set grid ytics mytics
set style fill solid 0.85 border -1
set boxwidth 0.8
set xtics rotate by -35 left nomirror noenhanced
set key top right
set bmargin 7
set offsets 0.5, 0.5, 0, 0

in(w) = (column(5) == w ? column(4) : NaN)
plot data using 1:(in(0)):xtic(3) with boxes lc rgb "#4477aa" title "chain", \
     data using 1:(in(1)):xtic(3) with boxes lc rgb "#ee6677" title "shapes (sluice)", \
     data using 1:4:(sprintf("%.3g", column(4))) with labels offset 0,0.8 font ",8" \
          noenhanced notitle
