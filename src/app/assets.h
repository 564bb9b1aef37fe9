// Files built into the binary: the OpenAPI document and Swagger UI (later, the console).
#pragma once

#include <optional>
#include <string_view>

namespace learnwire::app {

// The embedded file served as `name` (e.g. "openapi.json", "docs/swagger-ui.css").
std::optional<std::string_view> EmbeddedAsset(std::string_view name);

}  // namespace learnwire::app
