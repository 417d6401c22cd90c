-- 0008: how many times each unsettled event has been delivered to a
-- subscription, so that an event whose handling kills its adapter before it
-- can answer is dead-lettered after delivery.max_attempts deliveries even
-- when the hub restarts in between (kill -9 included). Only events above the
-- subscription's acked floor have rows: the hub writes them in the group
-- commit that writes the cursor, and deletes those at or below the floor in
-- the same statement, so the table holds at most what is in flight.
CREATE TABLE delivery_attempt (
    adapter      text COLLATE "C" NOT NULL,
    subscription text COLLATE "C" NOT NULL,
    seq          bigint  NOT NULL,
    attempts     integer NOT NULL CHECK (attempts > 0),  -- deliveries made so far
    PRIMARY KEY (adapter, subscription, seq)
);
