package config

import (
	"fmt"
	"strings"
)

// Table renders the variables as the Markdown table of docs/configuration.md.
func Table() string {
	var b strings.Builder
	b.WriteString("| Variable | Default | Meaning |\n| --- | --- | --- |\n")
	for _, v := range vars {
		name := "`" + v.Name + "`"
		if v.Secret {
			name += " (or `" + v.Name + "_FILE`)"
		}
		def := "`" + v.Default + "`"
		if v.Default == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, def, strings.ReplaceAll(v.Doc, "|", "\\|"))
	}
	return b.String()
}
