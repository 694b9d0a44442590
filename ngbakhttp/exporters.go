package ngbakhttp

import (
	"fmt"
	"net/http"
	"strings"
)

// exporterJSON is a registered exporter as GET /api/exporters lists it:
// the targets a restore can map a backend onto (RestoreOptions.Into).
type exporterJSON struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

func (h *Handler) exporters(w http.ResponseWriter, r *http.Request) error {
	out := []exporterJSON{}
	for _, e := range h.m.Exporters() {
		out = append(out, exporterJSON{e.Name(), e.Kind()})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// parseInto reads ?into=backend=exporter,backend=exporter, the query form
// of the restore job's "into".
func parseInto(v string) (map[string]string, error) {
	if v == "" {
		return nil, nil
	}
	into := map[string]string{}
	for _, pair := range strings.Split(v, ",") {
		from, to, ok := strings.Cut(pair, "=")
		if !ok || from == "" || to == "" {
			return nil, apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("into %q: want backend=exporter pairs separated by commas", v)}
		}
		if _, dup := into[from]; dup {
			return nil, apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("into %q maps backend %q twice", v, from)}
		}
		into[from] = to
	}
	return into, nil
}
