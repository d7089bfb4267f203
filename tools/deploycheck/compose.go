package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
)

// composeFiles names what checkCompose reads.
type composeFiles struct {
	Compose   string // deploy/compose.yaml
	EnvFile   string // deploy/.env.example: the values it is loaded with
	ConfigDoc string // docs/configuration.md: the variables our service reads
}

// checkCompose loads the Compose file with compose-go, as `docker compose`
// does, strictly: the file must match the Compose schema (an unknown key
// fails), every ${VAR} must be set by the env file or have a default, and
// the services must be consistent (depends_on, volumes, secrets). Then
// every variable given to a service running our image (AVATAR_IMAGE) must
// be one docs/configuration.md documents, so that a typo cannot pass as a
// setting.
func checkCompose(ctx context.Context, f composeFiles) (summary string, problems []error) {
	documented, err := documentedVars(f.ConfigDoc)
	if err != nil {
		return "", []error{err}
	}
	opts, err := cli.NewProjectOptions([]string{f.Compose},
		cli.WithWorkingDirectory(filepath.Dir(f.Compose)),
		cli.WithEnvFiles(f.EnvFile), cli.WithDotEnv, // and not this process's environment
		cli.WithInterpolation(true), cli.WithConsistency(true), cli.WithResolvedPaths(false),
		cli.WithLoadOptions(func(o *loader.Options) {
			if o.Interpolate != nil {
				o.Interpolate.Substitute = strictSubstitute
			}
		}),
	)
	if err != nil {
		return "", []error{fmt.Errorf("%s: %w", f.Compose, err)}
	}
	project, err := opts.LoadProject(ctx)
	if err != nil {
		return "", []error{fmt.Errorf("%s: %w", f.Compose, err)}
	}
	image := project.Environment["AVATAR_IMAGE"]
	if image == "" {
		return "", []error{fmt.Errorf("%s sets no AVATAR_IMAGE: cannot tell our services", f.EnvFile)}
	}
	var ours []string
	for _, name := range slices.Sorted(maps.Keys(project.Services)) {
		s := project.Services[name]
		if s.Image != image {
			continue
		}
		ours = append(ours, name)
		for _, v := range slices.Sorted(maps.Keys(s.Environment)) {
			if !documented[v] {
				problems = append(problems, fmt.Errorf("%s: service %s sets %s, which docs/configuration.md does not document", f.Compose, name, v))
			}
		}
	}
	if len(ours) == 0 {
		problems = append(problems, fmt.Errorf("%s: no service runs %s", f.Compose, image))
	}
	summary = fmt.Sprintf("ok: %d services load strictly; %s run our image with documented variables only", len(project.Services), strings.Join(ours, ", "))
	return summary, problems
}

// strictSubstitute is Compose's interpolation, except that a ${VAR}
// that is unset and has no default is an error, not an empty string.
func strictSubstitute(tmpl string, mapping template.Mapping) (string, error) {
	return template.SubstituteWithOptions(tmpl, mapping, template.WithoutLogging,
		template.WithReplacementFunction(func(s string, m template.Mapping, cfg *template.Config) (string, error) {
			var unset []string
			record := func(k string) (string, bool) {
				v, ok := m(k)
				if !ok {
					unset = append(unset, k)
				}
				return v, ok
			}
			v, applied, err := template.DefaultReplacementAppliedFunc(s, record, cfg)
			if err == nil && !applied && len(unset) > 0 {
				return "", fmt.Errorf("variable %s is not set and has no default", unset[len(unset)-1])
			}
			return v, err
		}))
}

// docVar matches a row of the variables' table: | `NAME` (or `NAME_FILE`) | …
var docVar = regexp.MustCompile("^\\| `([A-Z0-9_]+)`(?: \\(or `([A-Z0-9_]+)`\\))? \\|")

// documentedVars reads the variable names of docs/configuration.md's table.
func documentedVars(path string) (map[string]bool, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	vars := map[string]bool{}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if m := docVar.FindStringSubmatch(sc.Text()); m != nil {
			vars[m[1]] = true
			if m[2] != "" {
				vars[m[2]] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(vars) < 10 {
		return nil, fmt.Errorf("%s: found only %d documented variables: has its table changed shape?", path, len(vars))
	}
	return vars, nil
}
