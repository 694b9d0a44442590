package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/ngbak/ngbak"
)

// printPlan writes what a restore would do, backend by backend.
func printPlan(w io.Writer, p *ngbak.RestorePlan) {
	fmt.Fprintf(w, "restoring %s would:\n", p.ID)
	for _, b := range p.Backends {
		fmt.Fprintf(w, "  %s (%s): the backup holds %s", b.Name, b.Kind, counts(b.Backup))
		if b.Current != nil {
			fmt.Fprintf(w, "; the store holds %s now", counts(b.Current))
		}
		fmt.Fprintln(w)
		for _, d := range b.Deletes {
			fmt.Fprintf(w, "    delete %s, which the backup does not hold\n", d)
		}
		if b.Refused != "" {
			fmt.Fprintf(w, "    REFUSED: %s\n", b.Refused)
		}
	}
	switch {
	case !p.SafetyBackup:
		fmt.Fprintln(w, "  take no safety backup (-no-safety-backup): a failure cannot be rolled back")
	case p.SafetyBytes > 0:
		fmt.Fprintf(w, "  first take a safety backup of about %s\n", bytesText(p.SafetyBytes))
	default:
		fmt.Fprintln(w, "  first take a safety backup")
	}
	if p.Refused != "" {
		fmt.Fprintf(w, "  REFUSED: %s\n", p.Refused)
	}
	fmt.Fprintln(w, "dry run: nothing changed")
}

func counts(m map[string]int64) string {
	if len(m) == 0 {
		return "nothing counted"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGT"[i-1])
}
