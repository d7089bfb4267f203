package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// expression is one PromQL expression and where it was found, for the
// messages.
type expression struct {
	where, expr string
}

// synthetic are the series Prometheus writes itself, for every target or
// rule, which a query may name without our exporting them.
var synthetic = map[string]bool{
	"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true,
	"scrape_samples_post_metric_relabeling": true, "scrape_series_added": true,
	"ALERTS": true, "ALERTS_FOR_STATE": true,
}

// histogramSuffixes are the series a histogram family is exposed as.
var histogramSuffixes = []string{"_bucket", "_sum", "_count"}

// grafanaInterval is a Grafana global variable that stands for a duration
// ($__rate_interval, ${__interval}, …): replaced by one before parsing,
// since PromQL has no variables.
var grafanaInterval = regexp.MustCompile(`\$(__(rate_interval|interval|range)\b|\{__(rate_interval|interval|range)\})`)

// nameCheck parses expressions and checks the metric names they select.
type nameCheck struct {
	parser   parser.Parser
	exported map[string]bool
	used     map[string]bool // the exported families some expression names
}

func newNameCheck(exported map[string]bool) *nameCheck {
	return &nameCheck{parser: parser.NewParser(parser.Options{}), exported: exported, used: map[string]bool{}}
}

// check parses e and answers a problem for a parse error and for each
// selector that names no metric or one we do not export.
func (c *nameCheck) check(e expression) []error {
	expr, err := c.parser.ParseExpr(grafanaInterval.ReplaceAllString(e.expr, "5m"))
	if err != nil {
		return []error{fmt.Errorf("%s: PromQL does not parse: %w\n\t%s", e.where, err, e.expr)}
	}
	var problems []error
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := selectedName(vs)
		switch {
		case name == "":
			problems = append(problems, fmt.Errorf("%s: selector %s names no metric (a regular expression on __name__ cannot be checked)", e.where, vs))
		case synthetic[name]:
		default:
			family, ok := c.family(name)
			if !ok {
				problems = append(problems, fmt.Errorf("%s: %s is not a metric we export (deploy/metrics.txt)", e.where, name))
				break
			}
			c.used[family] = true
		}
		return nil
	})
	return problems
}

// family is the exported family a series name belongs to: itself, or the
// histogram whose _bucket, _sum or _count it is.
func (c *nameCheck) family(name string) (string, bool) {
	if c.exported[name] {
		return name, true
	}
	for _, s := range histogramSuffixes {
		if base, ok := strings.CutSuffix(name, s); ok && c.exported[base] {
			return base, true
		}
	}
	return "", false
}

// selectedName is the metric a selector names, by name or by an equality
// matcher on __name__; "" when it names none.
func selectedName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}
