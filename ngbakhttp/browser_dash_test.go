package ngbakhttp_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/ngbakhttp"
)

// dirState is every file of a folder and its content.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		b, err := os.ReadFile(filepath.Join(dir, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[en.Name()] = string(b)
	}
	return out
}

// Issue 17 in the dashboard: the restore dialog offers the registered
// exporters as targets of each backend, shows the plan of the choice, and
// restores the json backend into a second jsonexp ("staging"), leaving the
// production folder as it is.
func TestDashboardRestoreInto(t *testing.T) {
	staging := t.TempDir()
	os.WriteFile(filepath.Join(staging, "kv_store_old.json"), []byte(`{"old": 1}`), 0o644)
	stagingExp, err := jsonexp.New(jsonexp.Options{Dir: staging, Name: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, ngbakhttp.Options{}, stagingExp)
	man, err := e.m.Create(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(e.work, "kv_store_full_docs.json"), []byte(`{"changed": "in production"}`), 0o644)
	production := dirState(t, e.work)
	ctx := newBrowser(t)
	var options []string
	var before, after string
	var disabled bool
	var progress []string
	run(t, ctx, "open the restore dialog",
		chromedp.Navigate(e.url("/#token="+testToken)),
		chromedp.WaitVisible(rowSel(man.ID, "td.id")),
		chromedp.Click(rowSel(man.ID, `button[data-op="restore"]`)),
		chromedp.WaitVisible(`#confirm-into select[data-backend="json"]`),
		chromedp.Evaluate(`[...document.querySelectorAll('#confirm-into select[data-backend="json"] option')].map(o => o.value + (o.selected ? "*" : ""))`, &options),
		chromedp.Text("#confirm-list", &before),
	)
	if !cmp.Equal(options, []string{"json*", "staging"}) {
		t.Fatalf("the json backend's targets: %v", options)
	}
	run(t, ctx, "choose staging",
		chromedp.SetValue(`#confirm-into select[data-backend="json"]`, "staging"),
		chromedp.Evaluate(`document.querySelector('#confirm-into select[data-backend="json"]').dispatchEvent(new Event("change")); true`, nil),
		chromedp.WaitVisible(`#confirm li.plan[data-backend="json"] .into`),
		chromedp.Text("#confirm-list", &after),
		chromedp.WaitVisible(`#confirm-type`),
		chromedp.Evaluate(`document.getElementById("confirm-ok").disabled`, &disabled),
	)
	// The staging folder holds a file the backup does not: its plan
	// deletes it, which asks for the id to be typed; production's did not.
	if strings.Contains(before, "deletes") || !strings.Contains(after, "json (json) into staging") || !strings.Contains(after, "deletes file kv_store_old.json") || !disabled {
		t.Fatalf("plan before %q, after choosing staging %q, Restore disabled %v", before, after, disabled)
	}
	run(t, ctx, "restore into staging",
		chromedp.SendKeys("#confirm-typed", man.ID),
		chromedp.Click("#confirm-ok"),
		chromedp.WaitVisible(`#job[data-kind="restore"][data-state="succeeded"]`),
		chromedp.Evaluate(backendBytes, &progress),
	)
	// The restore phase's events name staging, which restored json.
	if diff := cmp.Diff(wantBackendBytes(t, e.m, man.ID, "restored restore", "json"), progress); diff != "" {
		t.Errorf("backends after the restore (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"kv_store_full_docs.json": `{"doc-1": {"content": "original"}}`}, dirState(t, staging)); diff != "" {
		t.Errorf("staging after the restore (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(production, dirState(t, e.work)); diff != "" {
		t.Errorf("production was touched (-before +after):\n%s", diff)
	}
}

// Issue 15: a restore's safety backup is listed right under the backup it
// restored, named "safety backup of restore of <id>" with a link to it.
func TestDashboardSafetyBackup(t *testing.T) {
	e := newEnv(t, ngbakhttp.Options{})
	bg := context.Background()
	restored, err := e.m.Create(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Create(bg, nil); err != nil {
		t.Fatal(err)
	}
	res, err := e.m.Restore(bg, restored.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	newest, err := e.m.Create(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	var ids []string
	var note, href string
	var ok bool
	var png []byte
	run(t, ctx, "open the dashboard",
		chromedp.Navigate(e.url("/#token="+testToken)),
		chromedp.WaitVisible(rowSel(res.SafetyID, ".safety-of")),
		chromedp.Evaluate(`[...document.querySelectorAll("#backups tbody tr")].map(r => r.dataset.id)`, &ids),
		chromedp.Text(rowSel(res.SafetyID, ".safety-of"), &note),
		chromedp.AttributeValue(rowSel(res.SafetyID, ".safety-of a"), "href", &href, &ok),
		chromedp.FullScreenshot(&png, 90),
	)
	artifact(t, "dashboard-safety-backup.png", png)
	if note != "safety backup of restore of "+restored.ID || !strings.HasSuffix(href, "#backup-"+restored.ID) {
		t.Fatalf("the safety backup's row says %q, links %q", note, href)
	}
	if slices.Index(ids, res.SafetyID) != slices.Index(ids, restored.ID)+1 || ids[0] != newest.ID || len(ids) != 4 {
		t.Fatalf("rows %v: want the safety backup %s right under %s", ids, res.SafetyID, restored.ID)
	}
	if labels := mustLabels(t, e.m, res.SafetyID); labels[ngbak.LabelSafetyFor] != restored.ID {
		t.Fatalf("safety backup labels %v", labels)
	}
}

func mustLabels(t *testing.T, m *ngbak.Manager, id string) map[string]string {
	t.Helper()
	b, err := m.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return b.Manifest.Labels
}

// Issue 15, restore progress per backend: while the gate backend's
// restore waits, the page shows it restoring and the backend the restore
// did not select waiting; at the end every selected backend is restored.
func TestDashboardBackendProgress(t *testing.T) {
	notesDir := t.TempDir()
	os.WriteFile(filepath.Join(notesDir, "kv_store_notes.json"), []byte(`{"n": 1}`), 0o644)
	notes, err := jsonexp.New(jsonexp.Options{Dir: notesDir, Name: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{started: make(chan struct{}), open: make(chan struct{})}
	e := newEnv(t, ngbakhttp.Options{}, notes, g)
	man, err := e.m.Create(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var openOnce sync.Once
	open := func() { openOnce.Do(func() { close(g.open) }) }
	t.Cleanup(open) // before the handler's Close, which waits for the job
	var j ngbakhttp.Job
	e.mustStatus("POST", "/api/backups/"+man.ID+"/restore", strings.NewReader(`{"backends": ["json", "gate"]}`), http.StatusAccepted, &j)
	<-g.started
	ctx := newBrowser(t)
	var states []string
	var gateText string
	backends := `[...document.querySelectorAll("#job-backends li")].map(l => l.dataset.backend + " " + l.dataset.state)`
	run(t, ctx, "follow the restore",
		chromedp.Navigate(e.url("/#token="+testToken)),
		chromedp.WaitVisible(rowSel(man.ID, "td.id")),
		chromedp.Evaluate(`follow({id: "`+j.ID+`", kind: "restore", state: "running"}); true`, nil),
		chromedp.WaitVisible(`#job-backends li[data-backend="gate"][data-state="restoring"][data-total="2"]`),
		chromedp.Evaluate(backends, &states),
		chromedp.Text(`#job-backends li[data-backend="gate"]`, &gateText),
	)
	// json may be restoring or waiting for its turn: the events do not
	// tell when its restore ends, so it must not say restored yet.
	// The list is in the manifest's order (which parallel exports vary),
	// notes left out. gate's Restore has read its 2 bytes and waits: a
	// backend's bytes are told every few MiB and when its Restore returns.
	slices.Sort(states)
	if len(states) != 2 || states[0] != "gate restoring" || states[1] == "json restored" {
		t.Fatalf("during the restore: %v", states)
	}
	if gateText != "gate: restoring, restore 0 B of 2 B" {
		t.Fatalf("gate during the restore: %q", gateText)
	}
	open()
	run(t, ctx, "the restore ends",
		chromedp.WaitVisible(`#job[data-kind="restore"][data-state="succeeded"]`),
		chromedp.Evaluate(backendBytes, &states),
	)
	slices.Sort(states)
	if diff := cmp.Diff(wantBackendBytes(t, e.m, man.ID, "restored restore", "json", "gate"), states); diff != "" {
		t.Fatalf("after the restore (-want +got):\n%s", diff)
	}
}

// backendBytes lists each backend of the job box with its state and
// bytes, as wantBackendBytes does.
const backendBytes = `[...document.querySelectorAll("#job-backends li")].map(l =>
	[l.dataset.backend, l.dataset.state, l.dataset.phase, l.dataset.bytes, l.dataset.total, l.querySelector("progress")?.value].join(" "))`

// wantBackendBytes is what backendBytes says of the named backends of a
// backup once a job read all their bytes, sorted.
func wantBackendBytes(t *testing.T, m *ngbak.Manager, id, statePhase string, names ...string) []string {
	t.Helper()
	b, err := m.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range names {
		be, ok := b.Manifest.Backend(name)
		if !ok || be.Size == 0 {
			t.Fatalf("backup %s: backend %q has no size", id, name)
		}
		out = append(out, fmt.Sprintf("%s %s %d %d %d", name, statePhase, be.Size, be.Size, be.Size))
	}
	slices.Sort(out)
	return out
}

// Issue 15: a verify shows each backend's bytes read of its size.
func TestDashboardVerifyProgress(t *testing.T) {
	g := &gate{started: make(chan struct{}), open: make(chan struct{})}
	e := newEnv(t, ngbakhttp.Options{}, g)
	man, err := e.m.Create(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	var states []string
	var png []byte
	run(t, ctx, "verify",
		chromedp.Navigate(e.url("/#token="+testToken)),
		chromedp.WaitVisible(rowSel(man.ID, "td.id")),
		chromedp.Click(rowSel(man.ID, `button[data-op="verify"]`)),
		chromedp.WaitVisible(`#job[data-kind="verify"][data-state="succeeded"]`),
		chromedp.Evaluate(backendBytes, &states),
		chromedp.FullScreenshot(&png, 90),
	)
	artifact(t, "dashboard-verify-progress.png", png)
	slices.Sort(states)
	if diff := cmp.Diff(wantBackendBytes(t, e.m, man.ID, "verified verify", "json", "gate"), states); diff != "" {
		t.Fatalf("after the verify (-want +got):\n%s", diff)
	}
}
