# STRATOSWARM_CUDA (AUTO | ON | OFF): build the CUDA twins of the GPU peer's
# hot paths. AUTO turns them on when nvcc is found (CUDA code only needs nvcc
# to compile; at run time each CUDA class reports Unavailable without a device).
# Sets STRATOSWARM_HAVE_CUDA and enables the CUDA language when on.
include_guard(GLOBAL)

set(STRATOSWARM_CUDA AUTO CACHE STRING "Build the CUDA implementations (AUTO, ON, OFF)")
set_property(CACHE STRATOSWARM_CUDA PROPERTY STRINGS AUTO ON OFF)

set(STRATOSWARM_HAVE_CUDA OFF)
if(STRATOSWARM_CUDA AND NOT CMAKE_CROSSCOMPILING)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # 80 = A100, 90 = H100/H200; CUDA 13 no longer builds for anything below 75.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    # CMake 3.25 does not know nvcc 13's C++20 flag (CUDA targets inherit
    # CXX_STANDARD 20 from the project).
    if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    endif()
    find_package(CUDAToolkit REQUIRED)
    set(STRATOSWARM_HAVE_CUDA ON)
  elseif(STRATOSWARM_CUDA STREQUAL "ON")
    message(FATAL_ERROR "STRATOSWARM_CUDA=ON but no CUDA compiler was found")
  endif()
endif()
message(STATUS "StratoSwarm CUDA implementations: ${STRATOSWARM_HAVE_CUDA}")

# stratoswarm_cuda_target(<target>): the project's directory-wide compile
# options (sanitizers, -ffunction-sections) are GCC flags nvcc rejects; give a
# CUDA-only target the host-compiler flags it can take, through -Xcompiler.
function(stratoswarm_cuda_target target)
  set_property(TARGET ${target} PROPERTY COMPILE_OPTIONS "")
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-ffunction-sections,-fdata-sections>)
  set_property(TARGET ${target} PROPERTY POSITION_INDEPENDENT_CODE ON)
endfunction()
