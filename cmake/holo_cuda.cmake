# CUDA is optional twice over: at build time (nvcc found or not, HOLO_CUDA) and at run time (no device
# means the CPU backend). We link cudart statically so a binary built with CUDA still starts on a
# machine without the CUDA runtime libraries; the driver (libcuda) is opened by cudart at run time.
set(HOLO_HAVE_CUDA OFF)
if(NOT HOLO_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Ampere consumer cards, Ada (RTX 6000 Ada, the seed's Threadripper) and Hopper (H100/H200).
      set(CMAKE_CUDA_ARCHITECTURES 86 89 90)
    endif()
    # CMake 3.25 knows no C++20 dialect flag for nvcc 13; the .cu files are C++17.
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(HOLO_HAVE_CUDA ON)
  elseif(HOLO_CUDA STREQUAL "ON")
    message(FATAL_ERROR "HOLO_CUDA=ON but no CUDA compiler was found (looked in /usr/local/cuda)")
  endif()
endif()
message(STATUS "Holobionte CUDA backend: ${HOLO_HAVE_CUDA}")
