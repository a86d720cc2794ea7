-- The instructor-request list pages on (due, id), soonest due first, as the API's `cursor`
-- continues it; it used to stop at 1,000 rows, and the (agency, status) index served the
-- filter but not the order, so each call sorted the agency's whole history. One index per
-- filter the API lets a reader combine (a coordinator is always held to their agency;
-- `proposal_id` has its own index, and a proposal has a handful of requests) walks a page in
-- order and stops at its end. The old (agency, status) index is a prefix of the new one.
DROP INDEX instructor_requests_agency;
CREATE INDEX instructor_requests_agency_status_due ON instructor_requests (agency, status, due, id);
CREATE INDEX instructor_requests_agency_due ON instructor_requests (agency, due, id);
CREATE INDEX instructor_requests_status_due ON instructor_requests (status, due, id);
CREATE INDEX instructor_requests_due ON instructor_requests (due, id);
