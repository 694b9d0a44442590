package legacy

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ngbak/ngbak"
)

// A manifest nested deeper than any real one is refused, not followed
// down until the stack overflows and the process dies.
func TestDeepManifest(t *testing.T) {
	deep := `{"backup_id": "x", "statistics": ` + strings.Repeat("[", 16<<20) + strings.Repeat("]", 16<<20) + `}`
	arc := build(t, []member{{name: "./manifest.json", data: deep}})
	_, err := Verify(context.Background(), bytes.NewReader(arc), nil, t.TempDir(), Limits{})
	if !errors.Is(err, ngbak.ErrCorrupt) || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("Verify of a manifest nested 16 Mi deep: %v", err)
	}
	// As deep as it may be: read.
	ok := `{"backup_id": "x", "statistics": ` + strings.Repeat("[", maxNesting-1) + strings.Repeat("]", maxNesting-1) + `}`
	arc = build(t, []member{{name: "./manifest.json", data: ok}})
	if _, err := Verify(context.Background(), bytes.NewReader(arc), nil, t.TempDir(), Limits{}); !errors.Is(err, ngbak.ErrChecksum) {
		t.Fatalf("Verify of a manifest nested %d deep: %v, want only its checksum refused", maxNesting, err)
	}
}
