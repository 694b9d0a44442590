package qdrantemu

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// These tests hold the emulator to the documented behaviours that
// qdrantexp's tests rely on to be able to fail.

const key = "secret"

func start(t *testing.T) (*Server, *qdrant.GrpcClient, context.Context) {
	t.Helper()
	s, err := Start(Options{APIKey: key, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx := metadata.AppendToOutgoingContext(context.Background(), "api-key", key)
	c := qdrant.NewGrpcClientFromConn(conn)
	size := uint64(2)
	if _, err := c.Collections().Create(ctx, &qdrant.CreateCollection{CollectionName: "c", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: size, Distance: qdrant.Distance_Dot})}); err != nil {
		t.Fatal(err)
	}
	wait := true
	if _, err := c.Points().Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "c", Wait: &wait, Points: []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(1, 2)}, {Id: qdrant.NewIDNum(2), Vectors: qdrant.NewVectors(3, 4)},
	}}); err != nil {
		t.Fatal(err)
	}
	return s, c, ctx
}

func count(t *testing.T, c *qdrant.GrpcClient, ctx context.Context, coll string) uint64 {
	t.Helper()
	r, err := c.Points().Count(ctx, &qdrant.CountPoints{CollectionName: coll})
	if err != nil {
		t.Fatal(err)
	}
	return r.Result.Count
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func snapshot(t *testing.T, s *Server, c *qdrant.GrpcClient, ctx context.Context) (*qdrant.SnapshotDescription, []byte) {
	t.Helper()
	r, err := c.Snapshots().Create(ctx, &qdrant.CreateSnapshotRequest{CollectionName: "c"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", s.URL+"/collections/c/snapshots/"+r.SnapshotDescription.Name, nil)
	req.Header.Set("api-key", key)
	code, body := do(t, req)
	if code != 200 || int64(len(body)) != r.SnapshotDescription.Size {
		t.Fatalf("download: %d, %d bytes, want %d", code, len(body), r.SnapshotDescription.Size)
	}
	return r.SnapshotDescription, []byte(body)
}

func uploadReq(t *testing.T, s *Server, coll, query string, data []byte) *http.Request {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("snapshot", "x.snapshot")
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", s.URL+"/collections/"+coll+"/snapshots/upload?"+query, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("api-key", key)
	return req
}

func TestAPIKey(t *testing.T) {
	s, c, _ := start(t)
	_, err := c.Collections().List(context.Background(), &qdrant.ListCollectionsRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("gRPC without key: %v", err)
	}
	for _, h := range []string{"", "wrong"} {
		req, _ := http.NewRequest("GET", s.URL+"/collections/c/snapshots", nil)
		req.Header.Set("api-key", h)
		if code, _ := do(t, req); code != 401 {
			t.Fatalf("REST with key %q: %d, want 401", h, code)
		}
	}
	req, _ := http.NewRequest("GET", s.URL+"/collections/c/snapshots", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if code, body := do(t, req); code != 200 {
		t.Fatalf("REST with bearer: %d %s", code, body)
	}
}

func TestUploadChecksumAndPriority(t *testing.T) {
	s, c, ctx := start(t)
	desc, data := snapshot(t, s, c, ctx)
	wait := true
	if _, err := c.Points().Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "c", Wait: &wait, Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(3), Vectors: qdrant.NewVectors(5, 6)}}}); err != nil {
		t.Fatal(err)
	}
	// A wrong checksum is refused and changes nothing.
	code, body := do(t, uploadReq(t, s, "c", "priority=snapshot&checksum="+strings.Repeat("0", 64), data))
	if code != 400 || !strings.Contains(body, "checksum") || count(t, c, ctx, "c") != 3 {
		t.Fatalf("wrong checksum: %d %s, %d points", code, body, count(t, c, ctx, "c"))
	}
	// The right one with priority=snapshot replaces.
	if code, body := do(t, uploadReq(t, s, "c", "priority=snapshot&checksum="+desc.GetChecksum(), data)); code != 200 || count(t, c, ctx, "c") != 2 {
		t.Fatalf("upload: %d %s", code, body)
	}
	// The default priority into a missing collection gives an empty one
	// (qdrant#10368).
	if code, body := do(t, uploadReq(t, s, "new", "", data)); code != 200 || count(t, c, ctx, "new") != 0 {
		t.Fatalf("replica upload: %d %s, %d points", code, body, count(t, c, ctx, "new"))
	}
	var env struct{ Result bool }
	code, body = do(t, uploadReq(t, s, "other", "priority=snapshot", data))
	if json.Unmarshal([]byte(body), &env); code != 200 || !env.Result || count(t, c, ctx, "other") != 2 {
		t.Fatalf("upload into a new collection: %d %s", code, body)
	}
}

func TestDownloadRange(t *testing.T) {
	s, c, ctx := start(t)
	desc, data := snapshot(t, s, c, ctx)
	req, _ := http.NewRequest("GET", s.URL+"/collections/c/snapshots/"+desc.Name, nil)
	req.Header.Set("api-key", key)
	req.Header.Set("Range", "bytes=5-9")
	if code, body := do(t, req); code != 206 || body != string(data[5:10]) {
		t.Fatalf("range: %d %q", code, body)
	}
	req, _ = http.NewRequest("GET", s.URL+"/collections/c/snapshots/..%2fescape", nil)
	req.Header.Set("api-key", key)
	if code, _ := do(t, req); code == 200 {
		t.Fatal("a snapshot name with a path in it was served")
	}
}
