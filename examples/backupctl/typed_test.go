package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// backupctl as people type it: flags after the positional arguments,
// restore -dry-run printing the plan and changing nothing, export to a
// file and to stdout, a file:// bucket that does not exist yet.
func TestBackupctlAsTyped(t *testing.T) {
	work, backups := t.TempDir(), filepath.Join(t.TempDir(), "not", "yet")
	store := filepath.Join(work, "kv_store_full_docs.json")
	os.WriteFile(store, []byte(`{"doc": "original"}`), 0o644)
	out, err := ctl(t, "create", "-json", work, "-bucket", "file://"+backups)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	flags := []string{"-bucket", "file://" + backups, "-json", work}

	later := filepath.Join(work, "kv_store_llm_response_cache.json")
	os.WriteFile(later, []byte(`{"later": 1}`), 0o644)
	out, err = ctl(t, append([]string{"restore", id, "-dry-run"}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"json (json): the backup holds bytes=19 files=1; the store holds bytes=31 files=2 now",
		"delete file kv_store_llm_response_cache.json (12 bytes), which the backup does not hold",
		"first take a safety backup of about 31 B",
		"dry run: nothing changed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("restore -dry-run does not say %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(later); err != nil {
		t.Fatalf("restore -dry-run changed the store: %v", err)
	}
	out, _ = ctl(t, append([]string{"list"}, flags...)...)
	if strings.Count(out, "\n") != 2 {
		t.Fatalf("restore -dry-run took a safety backup:\n%s", out)
	}
	out, err = ctl(t, append([]string{"restore", id, "-no-safety-backup", "-dry-run"}, flags...)...)
	if err != nil || !strings.Contains(out, "take no safety backup") {
		t.Fatalf("a flag after the id and before another: %v\n%s", err, out)
	}

	// A flag after the id is not taken as a second argument.
	if _, err := ctl(t, append([]string{"restore", id, "-no-safety-backup"}, flags...)...); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(later); err == nil {
		t.Fatal("the restore kept the file the plan said it would delete")
	}
	if out, _ = ctl(t, append([]string{"list"}, flags...)...); strings.Count(out, "\n") != 2 {
		t.Fatalf("restore ID -no-safety-backup took a safety backup:\n%s", out)
	}

	// export to a file, to stdout, and the two import as the backup.
	file := filepath.Join(t.TempDir(), id+".ngbak")
	if _, err := ctl(t, append([]string{"export", id, file}, flags...)...); err != nil {
		t.Fatal(err)
	}
	stored, _ := os.ReadFile(filepath.Join(backups, id+".ngbak"))
	if got, _ := os.ReadFile(file); !bytes.Equal(got, stored) || len(got) == 0 {
		t.Fatalf("the exported file (%d bytes) is not the archive (%d bytes)", len(got), len(stored))
	}
	if _, err := ctl(t, append([]string{"export", id, file}, flags...)...); err == nil || !strings.Contains(err.Error(), "exists; nothing was written") {
		t.Fatalf("export over an existing file: %v", err)
	}
	var stdout bytes.Buffer
	if err := run(context.Background(), append([]string{"export", id, "-"}, flags...), &stdout, &bytes.Buffer{}); err != nil || !bytes.Equal(stdout.Bytes(), stored) {
		t.Fatalf("export to stdout: %v, %d bytes", err, stdout.Len())
	}
	other := t.TempDir()
	if out, err := ctl(t, "import", file, "-dir", other); err != nil || strings.TrimSpace(out) != id {
		t.Fatalf("import of the export: %v\n%s", err, out)
	}
	// A damaged archive is not exported as if it were whole.
	os.WriteFile(filepath.Join(backups, id+".ngbak"), append(stored[:len(stored)-1], stored[len(stored)-1]^1), 0o644)
	damaged := filepath.Join(t.TempDir(), "damaged.ngbak")
	if _, err := ctl(t, append([]string{"export", id, damaged}, flags...)...); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("export of a damaged archive: %v", err)
	}
	if _, err := os.Stat(damaged); err == nil {
		t.Fatal("a damaged export was left as the file")
	}
	if entries, _ := os.ReadDir(filepath.Dir(damaged)); len(entries) != 0 {
		t.Fatalf("export left %d files behind", len(entries))
	}
	// A -- ends the flags.
	if _, err := ctl(t, "-dir", other, "verify", "--", "-x"); err == nil || !strings.Contains(err.Error(), "invalid backup id") {
		t.Fatalf("verify -- -x: %v", err)
	}
}
