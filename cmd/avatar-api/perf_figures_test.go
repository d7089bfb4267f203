package main_test

import (
	"fmt"
	"os"
	"regexp"
	"testing"
)

// Figures of docs/PERFORMANCE.md that other documents quote. make bench
// writes each inside a marker, <!-- figure:NAME -->value<!-- /figure -->,
// and with the report rewrites the same markers in the files that quote
// it (all checked before any is written); TestQuotedFiguresAgree holds them
// equal in the ordinary test suite.

// quotingDocs are the documents, besides PERFORMANCE.md, that quote its
// figures (paths from this package).
var quotingDocs = []string{"../../README.md", "../../docs/generator.md"}

var figureMark = regexp.MustCompile(`<!-- figure:([\w.-]+) -->(.*?)<!-- /figure -->`)

// figure is value, marked as the figure name for the documents that quote it.
func figure(name, value string) string {
	return "<!-- figure:" + name + " -->" + value + "<!-- /figure -->"
}

// markedFigures are the marked figures of a document; a name marked twice
// with two values is an error (a stale copy would win or lose by its place).
func markedFigures(doc []byte) (map[string]string, error) {
	m := map[string]string{}
	for _, f := range figureMark.FindAllSubmatch(doc, -1) {
		name, v := string(f[1]), string(f[2])
		if old, ok := m[name]; ok && old != v {
			return nil, fmt.Errorf("the figure %s is marked twice, as %q and %q", name, old, v)
		}
		m[name] = v
	}
	return m, nil
}

// quotedDocs returns each quoting document with its marked figures set to
// report's, without writing anything: a figure the report lacks, or marks
// twice, is an error before any file changes.
func quotedDocs(report []byte) (map[string][]byte, error) {
	want, err := markedFigures(report)
	if err != nil {
		return nil, err
	}
	docs := map[string][]byte{}
	for _, path := range quotingDocs {
		doc, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var missing error
		docs[path] = figureMark.ReplaceAllFunc(doc, func(m []byte) []byte {
			name := string(figureMark.FindSubmatch(m)[1])
			v, ok := want[name]
			if !ok {
				missing = fmt.Errorf("%s quotes the figure %s, which the report does not have", path, name)
				return m
			}
			return []byte(figure(name, v))
		})
		if missing != nil {
			return nil, missing
		}
	}
	return docs, nil
}

// TestQuotedFiguresAgree: every figure README.md and docs/generator.md
// quote from docs/PERFORMANCE.md is the one there.
func TestQuotedFiguresAgree(t *testing.T) {
	t.Parallel()
	report, err := os.ReadFile("../../docs/PERFORMANCE.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := markedFigures(report)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("docs/PERFORMANCE.md marks no figures")
	}
	for _, path := range quotingDocs {
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := markedFigures(doc)
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
		if len(got) == 0 {
			t.Errorf("%s quotes no figure of docs/PERFORMANCE.md", path)
		}
		for name, v := range got {
			if w, ok := want[name]; !ok {
				t.Errorf("%s quotes %s, which docs/PERFORMANCE.md does not have", path, name)
			} else if v != w {
				t.Errorf("%s quotes %s as %q; docs/PERFORMANCE.md has %q (make bench rewrites the quotes)", path, name, v, w)
			}
		}
	}
}
