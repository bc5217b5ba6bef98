package console

import (
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"time"
)

var funcs = template.FuncMap{
	"since": since,
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05.000Z")
	},
	"q":          queryEscape,
	"streamLink": streamLink,
	"category":   func(s string) string { return strings.SplitN(s, "-", 2)[0] },
}

// parseTemplates parses every page with the layout: one template set per
// page, so each page defines its own "content".
func parseTemplates() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		page := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if page == "layout" {
			continue
		}
		t, err := template.New(page).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", page, err)
		}
		pages[page] = t
	}
	return pages, nil
}
