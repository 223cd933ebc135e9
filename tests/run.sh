#!/usr/bin/env bash
# Runs every test program given, then the Python tests; sums the RESULT lines
# and ends with "N passed, M failed". Exit status 1 on any failure.
passed=0; failed=0; crashed=0
for t in "$@"; do
  echo "== $t"
  out=$("$t" 2>&1); rc=$?
  echo "$out" | grep -v '^RESULT '
  res=$(echo "$out" | grep '^RESULT ' | tail -1)
  if [ -z "$res" ]; then
    echo "FAIL $t exited with status $rc before reporting"; failed=$((failed+1)); continue
  fi
  set -- $res "$@"; p=$2; f=$3; shift 3
  passed=$((passed+p)); failed=$((failed+f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "FAIL $t exit status $rc"; failed=$((failed+1)); fi
done
if [ -z "${CN_NO_PYTHON:-}" ] && [ -d python/tests ] && ls python/tests/test_*.py >/dev/null 2>&1; then
  if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    for t in python/tests/test_*.py; do
      echo "== $t"
      out=$(CONVNET_LIB="${BUILD:-build}/libconvnet.so" PYTHONPATH=python /usr/bin/python3 "$t" 2>&1); rc=$?
      echo "$out" | grep -v '^RESULT '
      res=$(echo "$out" | grep '^RESULT ' | tail -1)
      if [ -z "$res" ]; then echo "FAIL $t exited with status $rc before reporting"; failed=$((failed+1)); continue; fi
      set -- $res "$@"; p=$2; f=$3; shift 3
      passed=$((passed+p)); failed=$((failed+f))
      if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "FAIL $t exit status $rc"; failed=$((failed+1)); fi
    done
  else
    echo "FAIL python tests: /usr/bin/python3 has no numpy (apt-get install python3-numpy)"; failed=$((failed+1))
  fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
