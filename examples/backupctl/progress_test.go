package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// On a terminal (a real pseudo-terminal) create, verify, restore and
// export draw progress bars; elsewhere they write plain lines.
func TestProgress(t *testing.T) {
	work, backups := t.TempDir(), t.TempDir()
	data := make([]byte, 24<<20)
	rand.Read(data)
	os.WriteFile(filepath.Join(work, "vdb_entities.json"), data, 0o644)
	flags := []string{"-dir", backups, "-json", work}

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 120})
	drawn := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(ptmx) // until tty closes (EIO)
		drawn <- b
	}()
	var out bytes.Buffer
	if err := run(context.Background(), append(flags, "create"), &out, tty); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out.String()[strings.LastIndex(strings.TrimSpace(out.String()), "\n")+1:])
	for _, args := range [][]string{{"verify", id}, {"restore", id}, {"export", id, filepath.Join(t.TempDir(), "x.ngbak")}} {
		if err := run(context.Background(), append(flags, args...), io.Discard, tty); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	tty.Close()
	term := string(<-drawn)
	for _, want := range []string{"[1] create export json", "verify verify json", "restore safety-backup", "restore restore json", "export export", "100%", "|", "MB"} {
		if !strings.Contains(term, want) {
			t.Errorf("the terminal shows no %q:\n%q", want, tail(term))
		}
	}
	if os.Getenv("SHOWTERM") != "" {
		t.Logf("%q", tail(term))
	}
	if !strings.Contains(term, "\r") {
		t.Error("the bars are not redrawn in place")
	}

	var plain bytes.Buffer
	if err := run(context.Background(), append(flags, "verify", id), io.Discard, &plain); err != nil {
		t.Fatal(err)
	}
	if s := plain.String(); strings.ContainsAny(s, "\r█") || !strings.Contains(s, "[1] verify verify json") || !strings.Contains(s, "MiB in ") || !strings.Contains(s, "verify "+id+": done") {
		t.Fatalf("plain progress:\n%q", s)
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}
