def usable(context, group, topk):
    return None
