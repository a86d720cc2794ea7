"""Server-rendered HTML pages for people: board, proposal, inbox, new proposal, reports."""
