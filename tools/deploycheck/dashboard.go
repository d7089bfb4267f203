package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/text"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// minSchemaVersion is the oldest dashboard schema we write: Grafana 11's
// (a dashboard saved by an older Grafana would be migrated on load, and
// the file would no longer be what Grafana shows).
const minSchemaVersion = 39

func init() {
	// The SDK decodes panels' options and targets by their plugin's type
	// once the plugin is registered. Only the few we use are: a panel of
	// another type is refused below (add its package here to allow it),
	// and the build stays small (plugins.RegisterDefaultPlugins brings
	// every plugin's generated code, several megabytes).
	runtime := cog.NewRuntime()
	for _, p := range []variants.PanelcfgConfig{timeseries.VariantConfig(), stat.VariantConfig(), text.VariantConfig()} {
		runtime.RegisterPanelcfgVariant(p)
	}
	runtime.RegisterDataqueryVariant(prometheus.VariantConfig())
}

// dashboardQueries reads a dashboard strictly and answers the PromQL of
// its panels' targets, and how many panels it has. Every target must be a
// Prometheus query (its datasource's type says so), since the others
// cannot be checked.
func dashboardQueries(path string) ([]expression, int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	var strictly dashboard.Dashboard
	if err := strict(strictly.UnmarshalJSONStrict(raw)); err != nil {
		return nil, 0, fmt.Errorf("%s is not a dashboard as Grafana's schema has it: %w", path, err)
	}
	// The SDK's strict decoding of a panel reads its fieldConfig loosely
	// (all but defaults.custom): read it strictly here.
	if err := strictFieldConfigs(raw); err != nil {
		return nil, 0, fmt.Errorf("%s is not a dashboard as Grafana's schema has it: %w", path, err)
	}
	// The strict decoding finds every error but, in v0.0.22, drops the
	// panels and targets it decoded (a nested decoder answers an empty
	// list of errors as an error, and its caller then drops the value):
	// the queries are read by the ordinary decoding, of the same types.
	var d dashboard.Dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	if d.SchemaVersion < minSchemaVersion {
		return nil, 0, fmt.Errorf("%s: schemaVersion %d is older than Grafana 11's (%d)", path, d.SchemaVersion, minSchemaVersion)
	}
	var panels []dashboard.Panel
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			panels = append(panels, *p.Panel)
		case p.RowPanel != nil:
			panels = append(panels, p.RowPanel.Panels...) // a collapsed row holds its panels
		}
	}
	var exprs []expression
	for _, p := range panels {
		title := "(untitled)"
		if p.Title != nil {
			title = *p.Title
		}
		// Without its plugin's schema the SDK reads a panel's options
		// loosely: only the panels it knows can be checked.
		if _, ok := cog.ConfigForPanelcfgVariant(p.Type); !ok {
			return nil, 0, fmt.Errorf("%s: panel %q is of type %q, which this check has no schema for (see init)", path, title, p.Type)
		}
		for i, t := range p.Targets {
			q, ok := t.(*prometheus.Dataquery)
			// The strict decoding reads a target's fields only when the
			// target names its datasource's type itself.
			if !ok || q.Datasource == nil || q.Datasource.Type == nil || *q.Datasource.Type != "prometheus" {
				return nil, 0, fmt.Errorf("%s: panel %q, target %d: give it its own datasource of type prometheus (a query of another or an unnamed type cannot be checked)", path, title, i)
			}
			ref := fmt.Sprint(i)
			if q.RefId != nil {
				ref = *q.RefId
			}
			exprs = append(exprs, expression{where: fmt.Sprintf("%s: panel %q, target %s", path, title, ref), expr: q.Expr})
		}
	}
	return exprs, len(panels), nil
}

// strict is the error of the SDK's strict unmarshalling, which returns its
// list of errors as an error even when the list is empty.
func strict(err error) error {
	var list cog.BuildErrors
	if errors.As(err, &list) && len(list) == 0 {
		return nil
	}
	return err
}

// rawPanel is what strictFieldConfigs reads of a panel.
type rawPanel struct {
	Title       string          `json:"title"`
	FieldConfig json.RawMessage `json:"fieldConfig"`
	Panels      []rawPanel      `json:"panels"` // a row's
}

// strictFieldConfigs decodes every panel's fieldConfig strictly.
func strictFieldConfigs(raw []byte) error {
	var d struct {
		Panels []rawPanel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	var errs []error
	var walk func(panels []rawPanel)
	walk = func(panels []rawPanel) {
		for _, p := range panels {
			if p.FieldConfig != nil {
				var fc dashboard.FieldConfigSource
				if err := strict(fc.UnmarshalJSONStrict(p.FieldConfig)); err != nil {
					errs = append(errs, fmt.Errorf("panel %q: fieldConfig: %w", p.Title, err))
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return errors.Join(errs...)
}
