-- Notifications are claimed one chat-queue head at a time (so replicas deliver a chat's
-- notifications in order); this index answers "is there an earlier one for this chat?".
CREATE INDEX outbox_chat ON outbox (channel, chat_id, id);
