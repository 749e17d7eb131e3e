// A fresh folder for one test, removed with everything in it when the test is done. One helper for
// every test program (they used to carry eight copies). mkdtemp makes the name unique across the
// test programs ctest runs side by side and across runs, so a crashed run's leftovers never collide.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace holo::test {

class temp_dir {
 public:
  // `tag` starts the folder's name (under $TMPDIR), to tell whose a leftover folder was.
  explicit temp_dir(const std::string& tag = "holo-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (tag + "-XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary folder from " + tmpl);
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const { return path_; }
  // The path of `name` inside the folder (nothing is created).
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Writes `text` to `name` inside the folder, replacing what was there.
  void write(const std::string& name, const std::string& text) const {
    std::ofstream out(file(name), std::ios::binary | std::ios::trunc);
    out << text;
  }

 private:
  std::string path_;
};

}  // namespace holo::test
