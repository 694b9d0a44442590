package qdrantexp

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/ngbak/ngbak"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/encoding/protojson"
)

// LogicalCollection is a collection of a logical-format backup, for
// converters from and into other kinds of stores: its points are in
// <Name>/points/*, length-delimited PointStruct messages (ReadPoints).
type LogicalCollection struct {
	Name string
	// Info is the collection's configuration and payload schema, as the
	// server describes it; a restore creates the collection from it.
	Info *qdrant.CollectionInfo
	// Points is the exact number of points, which a restore checks.
	Points int64
}

// LogicalDetails returns the Info.Details of a logical-format backup of
// collections made elsewhere: a restore creates each from its Info, leaves
// the aliases alone, deletes no other collection and checks the counts.
func LogicalDetails(colls []LogicalCollection) (json.RawMessage, error) {
	d := details{Mode: Logical.String(), Collections: []collectionRecord{}}
	for _, c := range colls {
		if err := checkName(c.Name); err != nil {
			return nil, err
		}
		info, err := protojson.Marshal(c.Info)
		if err != nil {
			return nil, err
		}
		d.Collections = append(d.Collections, collectionRecord{Name: c.Name, Info: info, Points: c.Points})
	}
	return json.Marshal(d)
}

// LogicalCollections reads the collections of a logical-format backend
// from its manifest.
func LogicalCollections(b *ngbak.Backend) ([]LogicalCollection, error) {
	if b.Format != LogicalFormat {
		return nil, fmt.Errorf("qdrantexp: backend %q is in format %q, not %s", b.Name, b.Format, LogicalFormat)
	}
	var d details
	if err := json.Unmarshal(b.Details, &d); err != nil {
		return nil, fmt.Errorf("qdrantexp: the manifest's details: %w", err)
	}
	var out []LogicalCollection
	for _, rec := range d.Collections {
		info := &qdrant.CollectionInfo{}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(rec.Info, info); err != nil {
			return nil, fmt.Errorf("qdrantexp: the configuration of collection %q: %w", rec.Name, err)
		}
		out = append(out, LogicalCollection{Name: rec.Name, Info: info, Points: rec.Points})
	}
	return out, nil
}

// ReadPoints reads one points part of a logical-format backup to its end.
func ReadPoints(r io.Reader, name string, fn func(*qdrant.PointStruct) error) error {
	return readPoints(r, name, fn)
}
