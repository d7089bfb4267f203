package api_test

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestSpecValid: kin-openapi, an implementation of OpenAPI other than the
// one that wrote it (huma), reads the committed document and finds it
// valid, examples included; every operation has an example answer.
func TestSpecValid(t *testing.T) {
	t.Parallel()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(specPath)
	if err != nil {
		t.Fatalf("loading %s: %v", specPath, err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("%s is not valid OpenAPI (its examples checked against their schemas): %v", specPath, err)
	}
	// Every operation answers with an example.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			found := false
			for code, r := range op.Responses.Map() {
				if code[0] != '2' || r.Value == nil {
					continue
				}
				for _, mt := range r.Value.Content {
					found = found || mt.Example != nil || len(mt.Examples) > 0
				}
			}
			if !found {
				t.Errorf("%s %s has no example answer", method, path)
			}
		}
	}
}
