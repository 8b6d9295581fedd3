# Sourced by the scripts that build: compiler cache settings shared by all
# build folders (build/dev, build/asan, ...), so switching presets is cheap.
courier_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if command -v ccache >/dev/null 2>&1; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache
  export CCACHE_BASEDIR="$courier_root"
  export CCACHE_NOHASHDIR=1
fi
export CTEST_PARALLEL_LEVEL=${CTEST_PARALLEL_LEVEL:-2}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
