package http

import (
	"maps"
	"slices"

	"github.com/metropolis/csc/domain"
)

// schemas are the document's component schemas: the request bodies, the write result, the problem,
// the raw log, and the read models' answers.
func schemas() obj {
	date := obj{"type": "string", "pattern": `^([0-9]{4}-[0-9]{2}-[0-9]{2})?$`, "description": "A calendar day YYYY-MM-DD."}
	itemFields := obj{
		"title":       str(),
		"description": str(),
		"theme":       strEnum(enumOf(domain.Themes())...),
		"sdgTargets":  arrayOf(strEnum(domain.SDGTargets()...)),
		"indicator":   ref("Indicator"),
		"milestones":  arrayOf(ref("Milestone")),
		"budget":      ref("Budget"),
		"startDate":   date,
		"dueDate":     date,
	}
	proposeFields := maps.Clone(itemFields)
	proposeFields["city"] = withDesc(str(), "The city's slug, e.g. berlin.")
	writeResult := object([]string{"id", "revision", "position"}, obj{
		"id":       withDesc(str(), "What was written: the item, city or member."),
		"updateId": withDesc(str(), "The roadmap update created (updates only)."),
		"revision": obj{"type": "integer", "minimum": 0},
		"position": withDesc(str(), "The $all position of the last event (opaque)."),
	})
	event := object([]string{"position", "stream", "revision", "id", "type", "recorded", "data", "metadata"}, obj{
		"position": str(),
		"stream":   str(),
		"revision": obj{"type": "integer", "minimum": 0},
		"id":       str(),
		"type":     str(),
		"recorded": obj{"type": "string", "format": "date-time"},
		"data":     obj{"description": "The event's payload as stored (JSON)."},
		"metadata": obj{"type": "object", "description": "actor, role, city, commandId, correlationId, causationId, commandHash, schemaVersion, prevHash, hash."},
	})

	s := obj{
		"Problem": object([]string{"type", "title", "status"}, obj{
			"type":      withDesc(str(), "Stable: urn:csc:problem:<code>."),
			"title":     str(),
			"status":    integer(),
			"detail":    str(),
			"instance":  str(),
			"errors":    arrayOf(ref("FieldError")),
			"requestId": str(),
		}),
		"FieldError":  object([]string{"field", "code", "message"}, obj{"field": str(), "code": str(), "message": str()}),
		"WriteResult": writeResult,
		"Health":      object([]string{"status"}, obj{"status": strEnum("ok", "catching_up"), "position": str()}),

		"Indicator": object([]string{"name", "unit", "direction", "baseline", "target"}, obj{
			"name": str(), "unit": str(), "direction": strEnum("increase", "decrease"), "baseline": ref("YearValue"), "target": ref("YearValue"),
		}),
		"Milestone":      object([]string{"id", "title", "due"}, obj{"id": str(), "title": str(), "due": date}),
		"Budget":         object([]string{"amount", "currency", "fundingSource"}, obj{"amount": number(), "currency": str(), "fundingSource": str()}),
		"ItemFields":     object([]string{"title", "description", "theme", "sdgTargets", "startDate", "dueDate"}, itemFields),
		"ProposeRequest": object([]string{"city", "title", "description", "theme", "sdgTargets", "startDate", "dueDate"}, proposeFields),
		"UpdateRequest": object([]string{"narrative"}, obj{
			"progressPercent":   obj{"type": "integer", "minimum": 0, "maximum": 100},
			"measurement":       object([]string{"value", "period"}, obj{"value": number(), "period": str()}),
			"milestonesReached": arrayOf(str()),
			"narrative":         str(),
			"evidence":          arrayOf(object([]string{"uri", "sha256"}, obj{"uri": str(), "sha256": str()})),
		}),
		"CorrectionRequest": object([]string{"updateId", "value", "reason"}, obj{"updateId": str(), "value": number(), "reason": str()}),
		"CommentRequest":    object([]string{"comment"}, obj{"comment": str()}),
		"ReasonRequest":     object([]string{"reason"}, obj{"reason": str()}),
		"EmptyRequest":      object(nil, obj{}),
		"JoinRequest":       object([]string{"id", "name", "country"}, obj{"id": str(), "name": str(), "country": str()}),
		"RegisterRequest": object([]string{"city", "name", "expertise"}, obj{
			"city": str(), "name": str(), "expertise": strEnum(enumOf(domain.Expertises())...),
		}),
		"RemoveRequest": object([]string{"reason"}, obj{"reason": str()}),

		"EventRecord": event,
		"EventPage": object([]string{"events", "next", "end"}, obj{
			"events": arrayOf(ref("EventRecord")), "next": str(), "end": boolean(),
		}),
		"StreamPage": object([]string{"stream", "events", "next", "end"}, obj{
			"stream": str(), "events": arrayOf(ref("EventRecord")), "next": obj{"type": "integer", "minimum": 0}, "end": boolean(),
		}),
	}
	maps.Copy(s, readSchemas())
	return s
}

// readSchemas are the schemas of the read models' answers (package projections, with the position and
// the moment of the read).
func readSchemas() obj {
	date := obj{"type": "string", "pattern": `^([0-9]{4}-[0-9]{2}-[0-9]{2})?$`}
	dateTime := obj{"type": "string", "format": "date-time"}
	count := obj{"type": "integer", "minimum": 0}
	fraction := obj{"type": "number", "minimum": 0, "maximum": 1}
	health := strEnum(healthValues()...)
	read := func(required []string, props obj) obj {
		all := obj{"position": withDesc(str(), "The read models' position (opaque)."),
			"asOf": withDesc(dateTime, "The moment health and overdue are evaluated at: now, or ?asOf.")}
		maps.Copy(all, props)
		return object(append([]string{"position", "asOf"}, required...), all)
	}
	milestones := object([]string{"reached", "total"}, obj{"reached": count, "total": count})
	cityProgress := obj{
		"city": str(), "name": str(), "founding": boolean(), "joined": dateTime,
		"stages": object(enumOf(domain.Stages()), func() obj {
			o := obj{}
			for _, st := range domain.Stages() {
				o[string(st)] = count
			}
			return o
		}()),
		"health": object(healthValues(), func() obj {
			o := obj{}
			for _, h := range healthValues() {
				o[h] = count
			}
			return o
		}()),
		"completion": fraction,
		"milestones": milestones,
		"overdue":    count,
		"budget":     arrayOf(object([]string{"currency", "amount"}, obj{"currency": str(), "amount": number()})),
		"lastUpdate": dateTime,
	}
	cityRequired := []string{"city", "name", "founding", "stages", "health", "completion", "milestones", "overdue", "budget"}
	summary := obj{
		"id": str(), "city": str(), "title": str(), "theme": strEnum(enumOf(domain.Themes())...),
		"sdgTargets": arrayOf(str()), "stage": strEnum(enumOf(domain.Stages())...), "health": health,
		"progress": fraction, "startDate": date, "dueDate": date, "overdue": boolean(), "milestones": milestones,
		"budget": ref("Budget"), "revision": count, "lastUpdate": dateTime,
	}
	summaryRequired := []string{"id", "city", "title", "theme", "sdgTargets", "stage", "progress", "startDate", "dueDate",
		"overdue", "milestones", "revision"}
	correction := object([]string{"oldValue", "newValue", "reason", "at"}, obj{
		"oldValue": number(), "newValue": number(), "reason": str(), "actor": str(), "at": dateTime})
	measurement := object([]string{"updateId", "period", "value", "originalValue", "at", "corrections"}, obj{
		"updateId": str(), "period": str(), "value": number(), "originalValue": number(), "at": dateTime,
		"corrections": arrayOf(correction)})
	fieldChange := object([]string{"field"}, obj{
		"field":  withDesc(str(), "title, description, theme, sdgTargets, indicator, milestones, budget, startDate, dueDate, stage, progressPercent, measurement.value, milestonesReached or updates[<updateId>].measurement.value"),
		"before": withDesc(obj{}, "the JSON value before the event; absent when the field had none"),
		"after":  withDesc(obj{}, "the JSON value after the event")})
	history := object([]string{"revision", "position", "at", "type", "summary"}, obj{
		"revision": count, "position": str(), "at": dateTime, "type": str(), "actor": str(), "actorName": str(),
		"role": str(), "summary": str(), "changes": arrayOf(fieldChange)})
	detail := maps.Clone(summary)
	maps.Copy(detail, obj{
		"description":      str(),
		"healthBasis":      strEnum("indicator", "progress"),
		"expectedProgress": fraction,
		"progressPercent":  obj{"type": "integer", "minimum": 0, "maximum": 100},
		"indicator": object([]string{"name", "unit", "direction", "baseline", "target", "measurements"}, obj{
			"name": str(), "unit": str(), "direction": strEnum("increase", "decrease"),
			"baseline": ref("YearValue"), "target": ref("YearValue"), "measurements": arrayOf(measurement)}),
		"latestMeasurement": measurement,
		"milestoneList": arrayOf(object([]string{"id", "title", "due", "reached"}, obj{
			"id": str(), "title": str(), "due": date, "reached": boolean(), "reachedAt": dateTime})),
		"proposedAt":  dateTime,
		"revisions":   count,
		"lastComment": str(),
		"history":     arrayOf(history),
	})
	cell := object([]string{"items", "committed", "completion"}, obj{"items": count, "committed": count, "completion": fraction})
	return obj{
		"YearValue":        object([]string{"value", "year"}, obj{"value": number(), "year": integer()}),
		"CityProgress":     object(cityRequired, cityProgress),
		"Progress":         read([]string{"cities"}, obj{"cities": arrayOf(ref("CityProgress"))}),
		"CityProgressView": read(cityRequired, cityProgress),
		"MatrixView": read([]string{"themes", "targets", "rows"}, obj{
			"themes":  arrayOf(strEnum(enumOf(domain.Themes())...)),
			"targets": arrayOf(str()),
			"rows": arrayOf(object([]string{"city", "name", "themes", "targets"}, obj{
				"city": str(), "name": str(), "themes": mapOf(cell), "targets": mapOf(cell)})),
		}),
		"ItemSummary": object(summaryRequired, summary),
		"ItemList":    read([]string{"items"}, obj{"items": arrayOf(ref("ItemSummary")), "next": str()}),
		"ItemView":    read(append(slices.Clone(summaryRequired), "description", "expectedProgress", "milestoneList", "revisions", "history"), detail),
		"ItemHistory": read([]string{"id", "history"}, obj{"id": str(), "history": arrayOf(history)}),
		"Roster": read([]string{"collaboratory", "name", "phase", "cities", "expertise"}, obj{
			"collaboratory": str(), "name": str(), "phase": str(), "launched": dateTime,
			"cities": arrayOf(object([]string{"id", "name", "country", "founding", "joined", "members"}, obj{
				"id": str(), "name": str(), "country": str(), "founding": boolean(), "joined": dateTime, "members": count})),
			"expertise": arrayOf(object([]string{"expertise", "members"}, obj{
				"expertise": str(),
				"members": arrayOf(object([]string{"id", "name", "city", "registered"}, obj{
					"id": str(), "name": str(), "city": str(), "registered": dateTime})),
			})),
		}),
		"ActivityFeed": read([]string{"activity"}, obj{"activity": arrayOf(object([]string{"position", "at", "type", "stream", "text"}, obj{
			"position": str(), "at": dateTime, "type": str(), "stream": str(), "city": str(), "itemId": str(),
			"actor": str(), "actorName": str(), "role": str(), "text": str(),
		}))}),
	}
}
