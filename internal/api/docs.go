package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/avatar-api/avatar-api/internal/apidocs"
)

// root points at the documentation: a browser is sent to /docs, a
// program gets the links as JSON.
func (a *api) root(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, apidocs.Path, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"name": "Avatar API", "version": Version,
		"docs": a.PublicURL + apidocs.Path, "openapi": a.PublicURL + "/openapi.json",
	})
}
