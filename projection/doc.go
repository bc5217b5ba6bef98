// Package projection builds read models from events.
package projection
