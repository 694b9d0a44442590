package ngbak

// Exporters returns the registered exporters in registration order, for
// callers that offer a choice of targets (RestoreOptions.Into), such as a
// dashboard. The slice is a copy.
func (m *Manager) Exporters() []Exporter {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Exporter(nil), m.exps...)
}
