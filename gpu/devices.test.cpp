#define BOOST_TEST_MODULE devices
#include <boost/test/unit_test.hpp>

#include "gpu/devices.hpp"

// Device discovery never fails: without CUDA (build or machine) it answers an empty list and says
// why. On a machine with a GPU it lists each device with a name and its memory.
BOOST_AUTO_TEST_CASE(discovery_answers_devices_or_says_why_not) {
  std::string why;
  auto devs = holo::gpu::list_cuda_devices(&why);
#ifdef HOLO_HAVE_CUDA
  BOOST_CHECK(holo::gpu::cuda_compiled());
#else
  BOOST_CHECK(!holo::gpu::cuda_compiled());
  BOOST_CHECK(devs.empty());
  BOOST_CHECK(why.find("built without CUDA") != std::string::npos);
#endif
  if (devs.empty()) {
    BOOST_TEST_MESSAGE("no CUDA device: " << why);
    BOOST_CHECK(!why.empty());
  }
  for (auto& d : devs) {
    BOOST_TEST_MESSAGE("CUDA device " << d.index << ": " << d.name << ", " << (d.memory_bytes >> 20) << " MiB");
    BOOST_CHECK(!d.name.empty());
    BOOST_CHECK_GT(d.memory_bytes, 0u);
    BOOST_CHECK_GE(d.compute_major, 3);
  }
}
