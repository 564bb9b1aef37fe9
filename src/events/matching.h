// Which subscriptions hear an event (WEBHOOKS.md §4 "Matching"): event-type patterns (exact,
// family `x.*`, `*`), subject filters over the event's relations, and excluded actors. Pure
// functions; FanOut applies them inside the event's own transaction.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace learnwire::events {

struct Actor;

// What an event is about, before and after the change (the union): the filters look here.
// department_ids already holds the ancestors of every department, so a filter naming a parent
// department matches events of its sub-departments.
struct Relations {
  std::vector<std::string> learner_ids;
  std::vector<std::string> group_ids;
  std::vector<std::string> department_ids;
  std::vector<std::string> course_ids;
  std::vector<std::string> path_ids;
};

// A subscription's matching rules as stored. A filter key that is absent does not constrain;
// one that is present needs one of its ids among the event's relations of that kind.
struct SubscriptionFilter {
  std::vector<std::string> event_types;  // empty: every type
  std::optional<std::vector<std::string>> group_ids;
  std::optional<std::vector<std::string>> department_ids;
  std::optional<std::vector<std::string>> course_ids;
  std::optional<std::vector<std::string>> path_ids;
  std::vector<std::string> exclude_actor_ids;
};

// The filter keys a subscription may name, in rendering order.
inline constexpr const char* kFilterKeys[] = {"group_ids", "department_ids", "course_ids",
                                              "path_ids", "exclude_actor_ids"};

// True for a type of the catalog, a family (`enrollment.*`, whose part before the first dot
// starts some catalog type) or `*`.
bool IsValidTypePattern(std::string_view pattern);
// True when `patterns` is empty or one of them matches `type`.
bool TypeMatches(const std::vector<std::string>& patterns, std::string_view type);
// The whole rule: type, then (except for webhook.* events) every present filter key, then the
// excluded actors.
bool Matches(const SubscriptionFilter& filter, std::string_view type, const Relations& relations,
             const Actor& actor);

// The relations as stored with an event (JSON; null when there are none), and back.
std::optional<std::string> StoredRelations(const Relations& relations);
Relations ParseStoredRelations(std::string_view text);

// Reads the stored JSON texts of a subscription (event_types array, filters object).
core::Result<SubscriptionFilter> ParseStoredFilter(std::string_view event_types_json,
                                                   std::string_view filters_json);

}  // namespace learnwire::events
