package neo4jexp

// Label is the label of the exporter's scope (Options.Label); empty for
// the whole database. A converter writing another kind of graph into this
// store puts its nodes under it.
func (e *Exporter) Label() string { return e.opts.Label }
