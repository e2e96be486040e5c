// Package docs embeds the documents the server serves: the OpenAPI 3
// description of the REST API, kept beside the prose in this directory.
package docs

import _ "embed"

// OpenAPI is docs/openapi.json, served at GET /api/v1/openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte
