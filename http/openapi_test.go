package http_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
)

// TestOpenAPIDocument: the document describes exactly the routes of the router, and the response
// check that every other test's client runs really refuses a response the document does not allow
// (so that its silence elsewhere means something).
func TestOpenAPIDocument(t *testing.T) {
	ts := startServer(t, "")
	router := ts.openAPIRouter()
	for _, rt := range ts.server.Routes() {
		path := strings.NewReplacer("{id}", "00000000-0000-4000-8000-000000000001", "{city}", "berlin", "{stream}", "collaboratory-csc").Replace(rt.Path)
		r, err := http.NewRequest(rt.Method, ts.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		route, _, err := router.FindRoute(r)
		if err != nil {
			t.Errorf("route %s %s is not in the document: %v", rt.Method, rt.Path, err)
			continue
		}
		if route.Operation.OperationID != rt.Name {
			t.Errorf("%s %s is operation %s in the document, %s in the router", rt.Method, rt.Path, route.Operation.OperationID, rt.Name)
		}
	}

	r, err := http.NewRequest("GET", ts.url+"/v1/progress/berlin", nil)
	if err != nil {
		t.Fatal(err)
	}
	route, params, err := router.FindRoute(r)
	if err != nil {
		t.Fatal(err)
	}
	good := ts.must(200, req{method: "GET", path: "/v1/progress/berlin", as: coordinator})
	cases := map[string]struct {
		status int
		body   string
		ok     bool
	}{
		"the real answer":          {200, string(good.body), true},
		"an unknown field":         {200, strings.Replace(string(good.body), `"city":`, `"surprise":1,"city":`, 1), false},
		"a missing field":          {200, strings.Replace(string(good.body), `"overdue":`, `"overdueX":`, 1), false},
		"a wrong type":             {200, strings.Replace(string(good.body), `"founding":true`, `"founding":"yes"`, 1), false},
		"a problem status as JSON": {418, `{}`, false},
	}
	for name, c := range cases {
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
			Status:                 c.status,
			Header:                 http.Header{"Content-Type": {"application/json"}},
			Options:                &openapi3filter.Options{IncludeResponseStatus: true},
		}
		in.SetBodyBytes([]byte(c.body))
		err := openapi3filter.ValidateResponse(context.Background(), in)
		if (err == nil) != c.ok {
			t.Errorf("%s: validation error %v, want ok %v", name, err, c.ok)
		}
	}
}
