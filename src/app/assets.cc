#include "app/assets.h"

#include <cstddef>

namespace learnwire::app {

struct EmbeddedFile {
  const char* name;
  const char* start;
  const char* end;
};
// Defined in the file cmake/EmbedAssets.cmake generates.
extern const EmbeddedFile kEmbeddedFiles[];
extern const std::size_t kEmbeddedFileCount;

std::optional<std::string_view> EmbeddedAsset(std::string_view name) {
  for (std::size_t i = 0; i < kEmbeddedFileCount; ++i) {
    if (name == kEmbeddedFiles[i].name) {
      return std::string_view(
          kEmbeddedFiles[i].start,
          static_cast<std::size_t>(kEmbeddedFiles[i].end - kEmbeddedFiles[i].start));
    }
  }
  return std::nullopt;
}

}  // namespace learnwire::app
