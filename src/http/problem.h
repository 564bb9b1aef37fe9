// RFC 9457 problem details: the only shape errors leave the server in.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "http/message.h"

namespace learnwire::http {

using FieldError = core::FieldError;

// `type_suffix` is the last segment of the problem type, e.g. "validation" ->
// "https://learnwire.dev/problems/validation". The title is derived from the status.
Response Problem(int status, const std::string& type_suffix, const std::string& detail,
                 const std::vector<FieldError>& errors = {});

}  // namespace learnwire::http
