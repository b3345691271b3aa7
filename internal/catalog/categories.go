package catalog

import "slices"

// Category is one entry of the catalog's fixed category vocabulary: the
// picker filters by it, so a typo ("crms") must not make a provider
// vanish from a filter. The vocabulary is closed; adding a category is a
// code change, reviewed like any other.
type Category struct {
	Name  string `json:"name"`
	Label string `json:"label"`
}

// Categories is the vocabulary, sorted by name.
var Categories = []Category{
	{"accounting", "Accounting"},
	{"ai", "AI"},
	{"analytics", "Analytics"},
	{"cloud", "Cloud"},
	{"cms", "CMS"},
	{"communication", "Communication"},
	{"crm", "CRM"},
	{"custom", "Custom"},
	{"database", "Databases and warehouses"},
	{"design", "Design"},
	{"dev-tools", "Developer tools"},
	{"documents", "Documents and e-signature"},
	{"ecommerce", "E-commerce"},
	{"email", "E-mail"},
	{"finance", "Finance"},
	{"fitness", "Fitness and health"},
	{"hr", "HR"},
	{"identity", "Identity"},
	{"knowledge-base", "Knowledge base"},
	{"marketing", "Marketing"},
	{"media", "Media"},
	{"monitoring", "Monitoring"},
	{"payments", "Payments"},
	{"payroll", "Payroll"},
	{"productivity", "Productivity"},
	{"project-management", "Project management"},
	{"recruiting", "Recruiting"},
	{"scheduling", "Scheduling"},
	{"search", "Search"},
	{"security", "Security"},
	{"social", "Social"},
	{"storage", "Storage"},
	{"support", "Support"},
	{"surveys", "Forms and surveys"},
	{"ticketing", "Ticketing"},
	{"video", "Video"},
}

// CategoryLabel returns a category's label, or the name itself for a
// name outside the vocabulary.
func CategoryLabel(name string) string {
	if i := slices.IndexFunc(Categories, func(c Category) bool { return c.Name == name }); i >= 0 {
		return Categories[i].Label
	}
	return name
}

// IsCategory reports whether name is in the vocabulary.
func IsCategory(name string) bool { return knownCategory(name) }

// knownCategory reports whether name is in the vocabulary.
func knownCategory(name string) bool {
	return slices.ContainsFunc(Categories, func(c Category) bool { return c.Name == name })
}
