package http

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/projections"
)

// The OpenAPI 3.1 document of the API, built from the route table (so that every route is described:
// building the server fails when one is not) and served at /openapi.json. Schemas are strict
// (additionalProperties: false), so the document's test against real responses also catches fields
// that were added to a response without being described.

// obj is a JSON object of the document.
type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func str() obj                 { return obj{"type": "string"} }
func strEnum(vs ...string) obj { return obj{"type": "string", "enum": vs} }
func integer() obj             { return obj{"type": "integer"} }
func number() obj              { return obj{"type": "number"} }
func boolean() obj             { return obj{"type": "boolean"} }
func arrayOf(items obj) obj    { return obj{"type": "array", "items": items} }
func withDesc(s obj, d string) obj {
	out := maps.Clone(s)
	out["description"] = d
	return out
}

// object is a closed object schema: required lists the properties that must be there.
func object(required []string, props obj) obj {
	o := obj{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// mapOf is an object whose property names are free and whose values follow values.
func mapOf(values obj) obj { return obj{"type": "object", "additionalProperties": values} }

func enumOf[S ~string](vs []S) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// opSpec describes one operation besides what the route table says.
type opSpec struct {
	summary   string
	tag       string
	params    []obj
	body      obj         // request body schema (application/json); nil: none
	optional  bool        // the body may be left out
	ok        int         // success status
	okSchema  obj         // success body schema
	okType    string      // success content type; application/json when ""
	okHeaders obj         // success headers
	errors    []int       // documented problem statuses besides 401 (added for authenticated routes)
	also      map[int]obj // other statuses answered with a JSON body of the given schema
}

// Parameters shared by operations.
func paramAsOf() obj {
	return obj{"name": "asOf", "in": "query", "required": false, "schema": obj{"type": "string", "format": "date-time"},
		"description": "Answer as of this RFC 3339 time: from the events recorded up to then, health evaluated then. As-of views are built a few at a time across the server: 503 with Retry-After when none could start in time."}
}

func paramMinPosition() obj {
	return obj{"name": "minPosition", "in": "query", "required": false, "schema": str(),
		"description": "Wait (bounded) until the read models include this position (a CSC-Position); 504 if they do not in time."}
}

func paramLogAsOf() obj {
	return obj{"name": "asOf", "in": "query", "required": false, "schema": obj{"type": "string", "format": "date-time"},
		"description": "Only the events of the log as of this RFC 3339 time: the longest prefix of $all whose events were all recorded at or before it (as the as-of read models have it; 503 with Retry-After when it could not be found in time)."}
}

func paramLogMinPosition() obj {
	return obj{"name": "minPosition", "in": "query", "required": false, "schema": str(),
		"description": "Wait (bounded) until the log's head reaches this position (a CSC-Position); 504 if it does not in time."}
}

func paramIdempotencyKey() obj {
	return obj{"name": IdempotencyKeyHeader, "in": "header", "required": false,
		"schema":      obj{"type": "string", "minLength": 1, "maxLength": 255},
		"description": "The command ID: a UUID, or any key (namespaced by the route). It names one command on the item, member list or collaboratory written to: the same key and body give the same answer and append nothing; the same key with another body or action there gives 422. Make a fresh key per operation."}
}

func paramIfMatch() obj {
	return obj{"name": "If-Match", "in": "header", "required": false, "schema": str(),
		"description": "The stream revision the client saw (an ETag such as \"3\"): 412 when the stream is elsewhere."}
}

func paramItemID() obj {
	return obj{"name": "id", "in": "path", "required": true, "schema": str(), "description": "The roadmap item's ID (a UUID)."}
}

func writeHeaders() obj {
	return obj{
		"ETag":         obj{"schema": str(), "description": "The stream revision after the write, quoted."},
		PositionHeader: obj{"schema": str(), "description": "The $all position of the write's last event (pass as minPosition)."},
	}
}

// readParams are the parameters of every read of the read models.
func readParamsSpec(extra ...obj) []obj { return append(extra, paramAsOf(), paramMinPosition()) }

func writeSpec(summary, tag string, body obj, ok int, extra ...obj) opSpec {
	params := append(extra, paramIdempotencyKey(), paramIfMatch())
	return opSpec{summary: summary, tag: tag, params: params, body: body, ok: ok, okSchema: ref("WriteResult"),
		okHeaders: writeHeaders(), errors: []int{400, 403, 404, 409, 412, 413, 415, 422}}
}

// operations describes every route by its name (the operationId).
func operations() map[string]opSpec {
	readErrs := []int{400, 403, 503, 504}
	ops := map[string]opSpec{
		"healthz": {summary: "Liveness", tag: "operations", ok: 200, okSchema: ref("Health")},
		"readyz": {summary: "Readiness: 503 until the read models have caught up (a Health), and once they have stopped (a problem)",
			tag: "operations", ok: 200, okSchema: ref("Health"), errors: []int{503}, also: map[int]obj{503: ref("Health")}},
		"metrics": {summary: "Prometheus metrics", tag: "operations", ok: 200, okSchema: str(), okType: "text/plain"},
		"openapi": {summary: "This document", tag: "operations", ok: 200, okSchema: obj{"type": "object"}},

		"listCities": {summary: "The roster: cities taking part and their members", tag: "collaboratory",
			params: readParamsSpec(), ok: 200, okSchema: ref("Roster"), errors: readErrs},
		"joinCity": writeSpec("A city joins the collaboratory (coordinators)", "collaboratory", ref("JoinRequest"), 201),
		"registerMember": writeSpec("Register a member of a city's delegation (coordinators)", "collaboratory",
			ref("RegisterRequest"), 201),
		"removeMember": writeSpec("Remove a member (coordinators)", "collaboratory", ref("RemoveRequest"), 200,
			obj{"name": "id", "in": "path", "required": true, "schema": str(), "description": "The member's ID (a UUID)."}),

		"proposeItem": writeSpec("Propose a roadmap item (a member of that city, or a coordinator)", "roadmap",
			ref("ProposeRequest"), 201),
		"listItems": {summary: "Roadmap items, filtered", tag: "roadmap", ok: 200, okSchema: ref("ItemList"), errors: readErrs,
			params: readParamsSpec(
				obj{"name": "city", "in": "query", "schema": str()},
				obj{"name": "stage", "in": "query", "schema": strEnum(enumOf(domain.Stages())...)},
				obj{"name": "theme", "in": "query", "schema": strEnum(enumOf(domain.Themes())...)},
				obj{"name": "health", "in": "query", "schema": strEnum(healthValues()...)},
				obj{"name": "after", "in": "query", "schema": str(), "description": "List the items proposed after this one (an item ID: the next of the previous page)."},
				obj{"name": "limit", "in": "query", "schema": obj{"type": "integer", "minimum": 1, "maximum": MaxItemLimit}})},
		"getItem": {summary: "A roadmap item in detail", tag: "roadmap", params: readParamsSpec(paramItemID()), ok: 200,
			okSchema: ref("ItemView"), errors: append(readErrs, 404),
			okHeaders: obj{"ETag": obj{"schema": str(), "description": "The item stream's revision, for If-Match."}}},
		"getItemHistory": {summary: "A roadmap item's history: who did what when", tag: "roadmap",
			params: readParamsSpec(paramItemID()), ok: 200, okSchema: ref("ItemHistory"), errors: append(readErrs, 404)},

		"getProgress": {summary: "Progress per city", tag: "progress", params: readParamsSpec(), ok: 200,
			okSchema: ref("Progress"), errors: readErrs},
		"getCityProgress": {summary: "One city's progress", tag: "progress", ok: 200, okSchema: ref("CityProgressView"),
			params: readParamsSpec(obj{"name": "city", "in": "path", "required": true, "schema": str()}),
			errors: append(readErrs, 404)},
		"getMatrix": {summary: "Cities x themes and cities x SDG 11 targets", tag: "progress", params: readParamsSpec(),
			ok: 200, okSchema: ref("MatrixView"), errors: readErrs},
		"getActivity": {summary: "The latest events in plain words, newest first", tag: "progress", ok: 200,
			okSchema: ref("ActivityFeed"), errors: readErrs, params: readParamsSpec(
				obj{"name": "limit", "in": "query", "schema": obj{"type": "integer", "minimum": 1, "maximum": MaxEventLimit}})},

		"listEvents": {summary: "The raw event log, paged (auditors, coordinators)", tag: "audit", ok: 200,
			okSchema: ref("EventPage"), errors: []int{400, 403, 503, 504},
			params: []obj{
				paramLogAsOf(), paramLogMinPosition(),
				obj{"name": "after", "in": "query", "schema": str(), "description": "Start after this position (exclusive)."},
				obj{"name": "limit", "in": "query", "schema": obj{"type": "integer", "minimum": 1, "maximum": MaxEventLimit}},
				obj{"name": "stream", "in": "query", "schema": str(), "description": "Only this stream."},
				obj{"name": "type", "in": "query", "schema": str(), "description": "Only this event type."},
			}},
		"liveEvents": {summary: "New events as Server-Sent Events (auditors, coordinators)", tag: "audit", ok: 200,
			okSchema: str(), okType: "text/event-stream", errors: []int{400, 403},
			params: []obj{
				obj{"name": "Last-Event-ID", "in": "header", "schema": str(), "description": "Resume after this position."},
				obj{"name": "after", "in": "query", "schema": str(), "description": "Start after this position."},
			}},
		"getStream": {summary: "One stream's events (auditors, coordinators)", tag: "audit", ok: 200,
			okSchema: ref("StreamPage"), errors: []int{400, 403, 404, 503, 504},
			params: []obj{
				paramLogAsOf(), paramLogMinPosition(),
				obj{"name": "stream", "in": "path", "required": true, "schema": str()},
				obj{"name": "from", "in": "query", "schema": obj{"type": "integer", "minimum": 0}},
				obj{"name": "limit", "in": "query", "schema": obj{"type": "integer", "minimum": 1, "maximum": MaxEventLimit}},
			}},
	}
	actions := map[string]struct {
		summary string
		body    obj
	}{
		"reviseItem":         {"Revise a proposed item (or one with changes requested)", ref("ItemFields")},
		"approveItem":        {"Approve a proposed item (coordinators)", ref("EmptyRequest")},
		"requestChanges":     {"Send a proposed item back with a comment (coordinators)", ref("CommentRequest")},
		"rejectItem":         {"Reject a proposed item (coordinators)", ref("ReasonRequest")},
		"startItem":          {"Start an approved item", ref("EmptyRequest")},
		"submitUpdate":       {"Submit a roadmap update on an item in progress", ref("UpdateRequest")},
		"correctMeasurement": {"Correct an earlier update's measurement", ref("CorrectionRequest")},
		"holdItem":           {"Put an item in progress on hold", ref("ReasonRequest")},
		"resumeItem":         {"Resume an item on hold", ref("EmptyRequest")},
		"completeItem":       {"Complete an item in progress", ref("EmptyRequest")},
		"cancelItem":         {"Cancel an open item", ref("ReasonRequest")},
	}
	for name, a := range actions {
		status := http.StatusOK
		if name == "submitUpdate" {
			status = http.StatusCreated
		}
		spec := writeSpec(a.summary, "roadmap", a.body, status, paramItemID())
		spec.optional = a.body["$ref"] == "#/components/schemas/EmptyRequest"
		ops[name] = spec
	}
	return ops
}

func healthValues() []string { return enumOf(projections.Healths()) }

// openAPIDocument builds the document for the routes.
func openAPIDocument(routes []route) ([]byte, error) {
	ops := operations()
	paths := obj{}
	for _, rt := range routes {
		spec, ok := ops[rt.name]
		if !ok {
			return nil, fmt.Errorf("openapi: route %s %s (%s) is not described", rt.method, rt.path, rt.name)
		}
		item, _ := paths[rt.path].(obj)
		if item == nil {
			item = obj{}
			paths[rt.path] = item
		}
		op := operation(rt, spec)
		item[strings.ToLower(rt.method)] = op
		if rt.method == http.MethodGet {
			item["head"] = headOperation(op)
		}
	}
	if len(ops) != len(routes) {
		return nil, fmt.Errorf("openapi: %d operations described for %d routes", len(ops), len(routes))
	}
	doc := obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":   "Cities Sustainability Collaboratory API",
			"version": "1.0.0",
			"description": "Roadmap items, roadmap updates and progress of the cities of the CSC, an event-sourced system. " +
				"Errors are RFC 9457 problems (application/problem+json) with a stable type.",
		},
		"servers":    []obj{{"url": "/"}},
		"security":   []obj{{"bearerAuth": []string{}}},
		"paths":      paths,
		"components": obj{"securitySchemes": obj{"bearerAuth": obj{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}, "schemas": schemas()},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// operation is the OpenAPI operation of a route.
func operation(rt route, spec opSpec) obj {
	op := obj{"operationId": rt.name, "summary": spec.summary, "tags": []string{spec.tag}}
	params := append([]obj(nil), spec.params...)
	for _, name := range pathParams(rt.path) {
		found := false
		for _, p := range params {
			if p["in"] == "path" && p["name"] == name {
				found = true
			}
		}
		if !found {
			params = append(params, obj{"name": name, "in": "path", "required": true, "schema": str()})
		}
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if spec.body != nil {
		op["requestBody"] = obj{"required": !spec.optional, "content": obj{"application/json": obj{"schema": spec.body}}}
	}
	okType := spec.okType
	if okType == "" {
		okType = "application/json"
	}
	ok := obj{"description": http.StatusText(spec.ok), "content": obj{okType: obj{"schema": spec.okSchema}}}
	if spec.okHeaders != nil {
		ok["headers"] = spec.okHeaders
	}
	responses := obj{fmt.Sprint(spec.ok): ok}
	statuses := spec.errors
	if rt.access == public {
		op["security"] = []obj{}
	} else {
		statuses = append([]int{401}, statuses...)
	}
	for _, status := range statuses {
		responses[fmt.Sprint(status)] = problemResponse(status)
	}
	for status, schema := range spec.also {
		if resp, ok := responses[fmt.Sprint(status)].(obj); ok { // a problem, or this JSON body
			resp["content"].(obj)["application/json"] = obj{"schema": schema}
			continue
		}
		responses[fmt.Sprint(status)] = obj{"description": http.StatusText(status),
			"content": obj{"application/json": obj{"schema": schema}}}
	}
	responses["default"] = obj{"description": "A problem (e.g. 405, 500)",
		"content": obj{"application/problem+json": obj{"schema": ref("Problem")}}}
	op["responses"] = responses
	return op
}

// headOperation is the HEAD operation of a GET operation: the same answers, headers and all, without
// a body.
func headOperation(get obj) obj {
	op := maps.Clone(get)
	op["operationId"] = get["operationId"].(string) + "Head"
	op["summary"] = get["summary"].(string) + " (headers only)"
	responses := obj{}
	for status, r := range get["responses"].(obj) {
		resp := maps.Clone(r.(obj))
		delete(resp, "content")
		responses[status] = resp
	}
	op["responses"] = responses
	return op
}

func problemResponse(status int) obj {
	return obj{"description": http.StatusText(status), "content": obj{"application/problem+json": obj{"schema": ref("Problem")}}}
}

// pathParams returns the names of the {name} or {name:pattern} parameters of a mux path template.
func pathParams(path string) []string {
	var names []string
	for {
		open := strings.IndexByte(path, '{')
		if open < 0 {
			return names
		}
		end := strings.IndexByte(path[open:], '}')
		if end < 0 {
			return names
		}
		name, _, _ := strings.Cut(path[open+1:open+end], ":")
		names = append(names, name)
		path = path[open+end+1:]
	}
}

// handleOpenAPI serves the document.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.openapi)
}
