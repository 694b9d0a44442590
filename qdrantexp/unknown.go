package qdrantexp

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The go-client's protobuf types are those of the release it was generated
// from; a newer server can send fields they do not have. Protobuf keeps such
// fields as unknown bytes and protojson drops them, so a logical backup
// would restore a collection or a point without them, and nobody would know.
// unknownFields finds them so that the export can refuse instead.

// unknownFields returns the paths of the fields in m, at any depth, that
// m's type does not know, as "path.to.message#number".
func unknownFields(m proto.Message) []string {
	var found []string
	walkUnknown(m.ProtoReflect(), string(m.ProtoReflect().Descriptor().Name()), &found)
	slices.Sort(found)
	return slices.Compact(found)
}

func walkUnknown(m protoreflect.Message, path string, found *[]string) {
	for b := m.GetUnknown(); len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			*found = append(*found, path+"#?")
			break
		}
		*found = append(*found, fmt.Sprintf("%s#%d", path, num))
		b = b[n:]
		if m := protowire.ConsumeFieldValue(num, typ, b); m >= 0 {
			b = b[m:]
		} else {
			break
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := range l.Len() {
				walkUnknown(l.Get(i).Message(), p, found)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
				walkUnknown(v.Message(), p, found)
				return true
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			walkUnknown(v.Message(), p, found)
		}
		return true
	})
}

// refuseUnknown fails when m carries fields its type does not know.
func refuseUnknown(what string, m proto.Message) error {
	if u := unknownFields(m); len(u) > 0 {
		return fmt.Errorf("qdrantexp: %s has fields this build's Qdrant client (github.com/qdrant/go-client) does not know, which a logical backup would lose: %s; use snapshot mode, or an ngbak built with a go-client as new as the server", what, strings.Join(u, ", "))
	}
	return nil
}
