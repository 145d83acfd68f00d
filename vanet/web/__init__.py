"""Web views of the network: the simulator's live page (``vanet.web.sim``)
and a node's own page on its control endpoint, drawn in the browser from
files shipped in ``vanet/web/static`` (plain JavaScript and SVG, no build
step, nothing fetched from elsewhere), updated by Server-Sent Events
(``vanet.web.stream``)."""
