#include "events/matching.h"

#include <algorithm>
#include <boost/json.hpp>

#include "events/outbox.h"

namespace learnwire::events {
namespace json = boost::json;

namespace {

std::string_view Family(std::string_view type) { return type.substr(0, type.find('.')); }

bool Intersects(const std::vector<std::string>& wanted, const std::vector<std::string>& have) {
  return std::any_of(wanted.begin(), wanted.end(), [&](const std::string& id) {
    return std::find(have.begin(), have.end(), id) != have.end();
  });
}

bool FilterHolds(const std::optional<std::vector<std::string>>& wanted,
                 const std::vector<std::string>& have) {
  return !wanted || Intersects(*wanted, have);
}

core::Result<std::vector<std::string>> StringArray(const json::value& v, const char* what) {
  if (!v.is_array()) {
    return core::Internal(std::string("stored ") + what + " is not an array");
  }
  std::vector<std::string> out;
  for (const json::value& item : v.get_array()) {
    if (!item.is_string()) {
      return core::Internal(std::string("stored ") + what + " holds a non-string");
    }
    out.emplace_back(item.get_string());
  }
  return out;
}

}  // namespace

bool IsValidTypePattern(std::string_view pattern) {
  if (pattern == "*") {
    return true;
  }
  const std::vector<std::string>& catalog = Catalog();
  if (pattern.size() > 2 && pattern.substr(pattern.size() - 2) == ".*") {
    std::string_view family = pattern.substr(0, pattern.size() - 2);
    if (family.find('.') != std::string_view::npos) {
      return false;
    }
    return std::any_of(catalog.begin(), catalog.end(),
                       [&](const std::string& t) { return Family(t) == family; });
  }
  return std::find(catalog.begin(), catalog.end(), pattern) != catalog.end();
}

bool TypeMatches(const std::vector<std::string>& patterns, std::string_view type) {
  if (patterns.empty()) {
    return true;
  }
  for (const std::string& p : patterns) {
    if (p == "*" || p == type) {
      return true;
    }
    if (p.size() > 2 && p.compare(p.size() - 2, 2, ".*") == 0 &&
        Family(type) == std::string_view(p).substr(0, p.size() - 2)) {
      return true;
    }
  }
  return false;
}

bool Matches(const SubscriptionFilter& filter, std::string_view type, const Relations& relations,
             const Actor& actor) {
  if (!TypeMatches(filter.event_types, type)) {
    return false;
  }
  if (Family(type) != "webhook") {
    if (!FilterHolds(filter.group_ids, relations.group_ids) ||
        !FilterHolds(filter.department_ids, relations.department_ids) ||
        !FilterHolds(filter.course_ids, relations.course_ids) ||
        !FilterHolds(filter.path_ids, relations.path_ids)) {
      return false;
    }
  }
  if (actor.id && std::find(filter.exclude_actor_ids.begin(), filter.exclude_actor_ids.end(),
                            *actor.id) != filter.exclude_actor_ids.end()) {
    return false;
  }
  return true;
}

namespace {

struct RelationKey {
  const char* key;
  std::vector<std::string> Relations::*ids;
};
constexpr RelationKey kRelationKeys[] = {
    {"learner_ids", &Relations::learner_ids},
    {"group_ids", &Relations::group_ids},
    {"department_ids", &Relations::department_ids},
    {"course_ids", &Relations::course_ids},
    {"path_ids", &Relations::path_ids},
};

}  // namespace

std::optional<std::string> StoredRelations(const Relations& relations) {
  json::object o;
  for (const RelationKey& k : kRelationKeys) {
    if (!(relations.*k.ids).empty()) {
      o[k.key] = json::value_from(relations.*k.ids);
    }
  }
  if (o.empty()) {
    return std::nullopt;
  }
  return json::serialize(o);
}

Relations ParseStoredRelations(std::string_view text) {
  Relations r;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return r;
  }
  for (const RelationKey& k : kRelationKeys) {
    const json::value* a = v.get_object().if_contains(k.key);
    if (!a || !a->is_array()) {
      continue;
    }
    for (const json::value& id : a->get_array()) {
      if (id.is_string()) {
        (r.*k.ids).emplace_back(id.get_string());
      }
    }
  }
  return r;
}

core::Result<SubscriptionFilter> ParseStoredFilter(std::string_view event_types_json,
                                                   std::string_view filters_json) {
  boost::system::error_code ec;
  json::value types = json::parse(event_types_json, ec);
  if (ec) {
    return core::Internal("stored event_types is not JSON");
  }
  json::value filters = json::parse(filters_json, ec);
  if (ec || !filters.is_object()) {
    return core::Internal("stored filters is not a JSON object");
  }
  SubscriptionFilter out;
  LW_ASSIGN_OR_RETURN(out.event_types, StringArray(types, "event_types"));
  const json::object& f = filters.get_object();
  std::optional<std::vector<std::string>>* keyed[] = {&out.group_ids, &out.department_ids,
                                                      &out.course_ids, &out.path_ids};
  for (std::size_t i = 0; i < 4; ++i) {
    if (const json::value* v = f.if_contains(kFilterKeys[i])) {
      LW_ASSIGN_OR_RETURN(*keyed[i], StringArray(*v, kFilterKeys[i]));
    }
  }
  if (const json::value* v = f.if_contains("exclude_actor_ids")) {
    LW_ASSIGN_OR_RETURN(out.exclude_actor_ids, StringArray(*v, "exclude_actor_ids"));
  }
  return out;
}

}  // namespace learnwire::events
