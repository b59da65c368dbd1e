// Package domain is the model of the Cities Sustainability Collaboratory (CSC): its commands,
// events, folded states and the pure deciders between them. It uses the standard library only,
// reads no clock and makes no ids: time comes in Context.Now, ids come in the commands.
//
// # Streams
//
// A collaboratory stream, CollaboratoryStream(slug) ("collaboratory-csc" for the pilot), records
// which cities take part and who the members are: LaunchCollaboratory -> CollaboratoryLaunched,
// JoinCollaboratory -> CityJoined, RegisterMember -> MemberRegistered, RemoveMember -> MemberRemoved.
// Fold it with EvolveCollaboratory, decide with DecideCollaboratory.
//
// A roadmap item stream, ItemStream(itemID) ("roadmap-<uuid>"), records one roadmap item: its
// proposal, review, implementation, updates and end. Fold it with EvolveItem, decide with DecideItem.
// Every item event carries the item id and the item's city (ItemEvent).
//
// Evolve functions apply facts and never validate; they never write to the maps or slices of the
// state they are given (states are cached and shared between goroutines). Deciders are pure: the
// same state, command and context always give the same events or error. Every decided event carries
// "at" = Context.Now in UTC (left out when Now is zero); who acted is recorded by the command engine
// in the event metadata, not in the payload.
//
// # Lifecycle of a roadmap item
//
//	command             allowed in stage(s)                                    leads to
//	propose             (item does not exist)                                  proposed
//	revise              proposed, changes_requested                            proposed
//	approve             proposed                                               approved
//	request_changes     proposed                                               changes_requested
//	reject              proposed                                               rejected
//	start               approved                                               in_progress
//	submit_update       in_progress                                            in_progress
//	hold                in_progress                                            on_hold
//	resume              on_hold                                                in_progress
//	complete            in_progress                                            completed
//	cancel              proposed, changes_requested, approved, in_progress,    cancelled
//	                    on_hold
//	correct_measurement in_progress, on_hold, completed, cancelled             (unchanged)
//
// Any other pair is refused with a *LifecycleError. completed, rejected and cancelled are terminal:
// no command leaves them. A correction does not change the stage: it fixes a recorded fact, which
// stays possible after an item has ended (the only write a closed item accepts).
//
// # Rules where the design is silent
//
//   - Ids: item, member and update ids are UUIDs in lower-case canonical form (not the nil UUID), so
//     that one id names one stream. City and collaboratory ids are slugs (a-z, 0-9, inner single
//     hyphens, at most 64). Milestone ids are 1..64 of A-Z a-z 0-9 . _ - and unique within the item.
//   - A proposal's city must take part in the collaboratory: Context.Cities answers that (nil means
//     the seven founding cities). A member registers only for a city that takes part.
//   - Dates are calendar days (Date, "2026-11-28") in years 1900..2100; dueDate >= startDate; every
//     milestone is due between startDate and dueDate.
//   - At least one SDG 11 target, no target twice. At most 50 milestones.
//   - Indicator: name, unit and direction required; years 1900..2100, target year >= baseline year;
//     the target value is above the baseline for "increase" and below it for "decrease".
//   - Budget: amount > 0 (at most 1e15), currency an ISO 4217 code (three upper-case letters), funding
//     source required. Countries are ISO 3166-1 alpha-2 codes ("DE").
//   - A revision replaces all editable fields (it is a new version of the proposal, not a patch).
//   - Updates only in in_progress. An update needs a narrative; progressPercent is optional, 0..100,
//     and may go down (honest reporting); a measurement needs the item to have an indicator, a finite
//     value and a period "YYYY", "YYYY-Qn", "YYYY-MM" or "YYYY-MM-DD"; milestonesReached name
//     milestones of the item, not reached before, each once; at most 20 evidence entries, each an
//     absolute URI and a SHA-256 as 64 lower-case hex digits. An update id is used once per item
//     (ErrAlreadyExists).
//   - A correction names an update that has a measurement, changes its value (the same value is
//     refused as "unchanged") and gives a reason. MeasurementCorrected records the old and new value.
//   - Reasons and comments are required (at most 2000 characters). Required strings must not be
//     blank. Lengths count characters: titles and names 200, description and narrative 10000.
//   - A member id is never reused: registering a removed member's id again is ErrAlreadyExists;
//     removing a removed or unknown member is ErrNotFound. A city joins once (ErrAlreadyExists).
//   - Collaboratory commands other than launch need a launched collaboratory (ErrNotFound); launching
//     twice is ErrAlreadyExists. Founding cities come from the FoundingCities catalogue only; they are
//     listed in CollaboratoryLaunched (no CityJoined is recorded for them).
//   - Completing an item does not require 100 % progress or every milestone reached: that judgement
//     is the coordinator's and the city's; read models show it.
//
// # Authorisation
//
// Decided here (Authorize) so every entry point enforces it alike. "own city" means Context.City
// equals the item's city (for propose: the proposal's city).
//
//	command                                       member         coordinator  admin  auditor
//	launch, join, register_member, remove_member  no             yes          yes    no
//	approve, request_changes, reject              no             yes          yes    no
//	propose, revise, start, submit_update,        own city only  any city     any    no
//	correct_measurement, hold, resume, complete,
//	cancel
//
// A member without a city, an empty or unknown role, is refused. The deciders check, in this order:
// the role (before anything about the state is revealed), existence (ErrNotFound, ErrAlreadyExists),
// the actor's city against the item's, the stage (ErrLifecycle), then the command's fields
// (ErrValidation, listing every problem at once). Whether a member is still registered is not
// checked here (the item decider cannot see the collaboratory stream): token issuing is where a
// removed member loses access.
//
// # Errors
//
// Every decider error matches one sentinel with errors.Is and has a concrete type for errors.As:
// ErrValidation (*ValidationError with FieldError{Field, Code, Message}), ErrLifecycle
// (*LifecycleError), ErrForbidden (*ForbiddenError), ErrNotFound (*NotFoundError), ErrAlreadyExists
// (*AlreadyExistsError). Code(err) gives a stable string ("validation", "lifecycle", "forbidden",
// "not_found", "already_exists") for the HTTP layer to map, in one place, to a problem type.
//
// # Wire format
//
// Codec (NewCodec) encodes events as JSON with camelCase field names and a schema version per type,
// and decodes them back, upcasting older versions (RoadmapItemProposed v1 had one "sdgTarget"; v2
// has "sdgTargets"). Lists are encoded as [] rather than null. An unknown type decodes to
// ErrUnknownEventType, which readers skip and count.
package domain
