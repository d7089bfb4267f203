// Command deploycheck checks what deploy/ holds against what the service
// exports: the Grafana dashboards are read strictly with the Grafana
// Foundation SDK (an unknown field, a wrong type or a missing required
// field fails), and every PromQL expression of their panels and of the
// Prometheus alert rules is parsed with Prometheus's own parser and may
// name only the metric families listed in deploy/metrics.txt (which
// internal/metric/exported_test.go keeps true). The Dockerfile is linted
// with BuildKit's rules (docker build --check), and deploy/compose.yaml
// is loaded strictly with compose-go, its services' variables checked
// against docs/configuration.md.
//
// It is a module of its own, so that the service's dependencies do not
// grow by Prometheus and the SDK. Run it from its folder:
//
//	go run .                    # checks ../../deploy
//	go run . -deploy /path/to/deploy
//
// It exits 1 with one line per problem, or prints one line of summary.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	deploy := flag.String("deploy", filepath.Join("..", "..", "deploy"), "the deploy folder: metrics.txt, prometheus/alerts.yml, grafana/dashboards/*.json, compose.yaml, .env.example")
	dockerfile := flag.String("dockerfile", filepath.Join("..", "..", "Dockerfile"), "the Dockerfile to lint")
	configDoc := flag.String("config-doc", filepath.Join("..", "..", "docs", "configuration.md"), "the documented environment variables")
	flag.Parse()
	ctx := context.Background()
	summary, problems := check(*deploy)
	if n, lint := lintDockerfile(ctx, *dockerfile); len(lint) > 0 {
		problems = append(problems, lint...)
	} else if n == 0 {
		fmt.Println("deploycheck: ok:", *dockerfile, "has no BuildKit lint warning")
	}
	composeSummary, composeProblems := checkCompose(ctx, composeFiles{
		Compose:   filepath.Join(*deploy, "compose.yaml"),
		EnvFile:   filepath.Join(*deploy, ".env.example"),
		ConfigDoc: *configDoc,
	})
	problems = append(problems, composeProblems...)
	if len(composeProblems) == 0 {
		fmt.Println("deploycheck: compose.yaml:", composeSummary)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "deploycheck:", p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "deploycheck: %d problem(s) in %s\n", len(problems), *deploy)
		os.Exit(1)
	}
	fmt.Println("deploycheck:", summary)
}

// check reads the deploy folder and answers a summary, or the problems
// found.
func check(deploy string) (summary string, problems []error) {
	exported, err := readExported(filepath.Join(deploy, "metrics.txt"))
	if err != nil {
		return "", []error{err}
	}
	names := newNameCheck(exported)

	dashboards, err := filepath.Glob(filepath.Join(deploy, "grafana", "dashboards", "*.json"))
	if err != nil {
		return "", []error{err}
	}
	if len(dashboards) == 0 {
		problems = append(problems, fmt.Errorf("no dashboard in %s", filepath.Join(deploy, "grafana", "dashboards")))
	}
	var panels, queries int
	for _, path := range dashboards {
		exprs, n, err := dashboardQueries(path)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		panels += n
		queries += len(exprs)
		for _, e := range exprs {
			problems = append(problems, names.check(e)...)
		}
	}

	rules := filepath.Join(deploy, "prometheus", "alerts.yml")
	exprs, err := ruleExprs(rules)
	if err != nil {
		problems = append(problems, err)
	}
	for _, e := range exprs {
		problems = append(problems, names.check(e)...)
	}

	summary = fmt.Sprintf("ok: %d dashboard(s), %d panels, %d queries and %d alert rules name only the %d families of metrics.txt (%d of them used)",
		len(dashboards), panels, queries, len(exprs), len(exported), len(names.used))
	return summary, problems
}
