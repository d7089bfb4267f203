package main

import (
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// ruleFile is what ruleExprs reads of a Prometheus rule file. promtool
// check rules validates the whole file (scripts/check-deploy.sh runs it);
// Prometheus's own reader, model/rulefmt, would bring its query engine
// into this module's build, for the same check.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string `yaml:"alert"`
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// ruleExprs answers the expressions of a Prometheus rule file.
func ruleExprs(path string) ([]expression, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f ruleFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var exprs []expression
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				name = r.Record
			}
			exprs = append(exprs, expression{where: fmt.Sprintf("%s: group %s, rule %s", path, g.Name, name), expr: r.Expr})
		}
	}
	if len(exprs) == 0 {
		return nil, fmt.Errorf("%s holds no rule", path)
	}
	return exprs, nil
}
