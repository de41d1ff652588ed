"""Every session-state key that pages share, in one place. Widget keys that belong to one page stay in that page."""
CHECKPOINT = "checkpoint"      # the sidebar's checkpoint name
COLOR_BY = "color_by"          # every map's "Colour by"
SELECTION = "sel_ids"          # Map: selected row ids
PINS = "pins"                  # Map -> Compare: {"A": row, "B": row}
HISTORY = "history"            # Predict: the last (task, text, validation row it started from) inputs
LINKED = "linked_ids"          # Methods: example ids selected in either map
SWAP_FOR = "swap_for"          # Compare: the pair the swap was asked for
TRAIN_LAUNCHED = "train_launched"  # Train: runs started in this session (a fresh run name each)


def compare_row(slot: str) -> str:
    return f"cmp_row_{slot}"


def compare_id(slot: str) -> str:
    """The example id pinned in a Compare slot: it outlives a checkpoint switch, which drops row ids."""
    return f"cmp_id_{slot}"


def sticky(key: str) -> str:
    """Where `state.sticky` keeps a widget's value while its page is not shown."""
    return f"_kept.{key}"


# Row ids, pins and inputs refer to one checkpoint's extraction: dropped when the checkpoint changes (Compare then
# finds its slots' examples by id in the new one).
PER_CHECKPOINT = (SELECTION, PINS, HISTORY, LINKED, SWAP_FOR,
                  *(k for s in "AB" for k in (compare_row(s), sticky(compare_row(s)))))
