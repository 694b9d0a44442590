package ngbakhttp_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/ngbakhttp"
)

// Mount the backup API and dashboard under /admin/backups/ of a service's
// mux, behind the service's own check of a bearer token.
func Example() {
	dir, _ := os.MkdirTemp("", "ngbakhttp-example-")
	defer os.RemoveAll(dir)
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(dir)})
	if err != nil {
		log.Fatal(err)
	}
	h, err := ngbakhttp.New(m, ngbakhttp.Options{Authorize: func(r *http.Request) error {
		if r.Header.Get("Authorization") != "Bearer example-token" {
			return ngbakhttp.ErrUnauthenticated
		}
		return nil
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	mux := http.NewServeMux()
	mux.Handle("/admin/backups/", http.StripPrefix("/admin/backups", h))

	for _, token := range []string{"", "example-token"} {
		req := httptest.NewRequest("GET", "/admin/backups/api/backups", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 401 {"error":{"code":"unauthenticated","message":"unauthenticated"}}
	// 200 []
}
