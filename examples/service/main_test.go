package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestService starts the service, reads the dashboard URL it prints, and
// makes a backup through the mounted API with the token, after the token
// is refused when missing or wrong.
func TestService(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", t.TempDir(), "tok", pw); pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	dash, ok := strings.CutPrefix(strings.TrimSpace(line), "dashboard: ")
	if !ok || !strings.HasSuffix(dash, "/admin/backups/#token=tok") {
		t.Fatalf("printed %q", line)
	}
	base := strings.TrimSuffix(dash, "#token=tok")
	call := func(method, path, token string, body io.Reader) (int, string) {
		req, _ := http.NewRequest(method, base+path, body)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if method == "POST" {
			req.Header.Set("Content-Type", "application/json") // as the dashboard sends
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := call("GET", "", "", nil); code != 200 || !strings.Contains(body, "<title>Backups</title>") {
		t.Fatalf("dashboard: %d %s", code, body)
	}
	if code, _ := call("GET", "api/backups", "", nil); code != 401 {
		t.Fatalf("without the token: %d", code)
	}
	if code, _ := call("GET", "api/backups", "wrong", nil); code != 403 {
		t.Fatalf("with a wrong token: %d", code)
	}
	if code, body := call("POST", "api/backups", "tok", nil); code != 202 {
		t.Fatalf("start a backup: %d %s", code, body)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, body := call("GET", "api/backups", "tok", nil)
		if strings.Contains(body, `"example-service"`) && !strings.Contains(body, "tok\"") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backup listed: %s", body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
