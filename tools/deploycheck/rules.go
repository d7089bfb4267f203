package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// ruleExprs reads a Prometheus rule file as Prometheus does (unknown
// fields refused, every rule validated) and answers its expressions.
func ruleExprs(path string) ([]expression, error) {
	groups, errs := rulefmt.ParseFile(path, false, model.LegacyValidation, parser.NewParser(parser.Options{}), slog.Default())
	if len(errs) > 0 {
		return nil, fmt.Errorf("rules: %w", errors.Join(errs...))
	}
	var exprs []expression
	for _, g := range groups.Groups {
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
