#include "ast.hpp"

namespace moa::ast {

std::string Path::joined() const {
    std::string r;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i) r += '.';
        r += parts[i];
    }
    return r;
}

Span Item::span() const {
    switch (kind) {
        case Kind::Field: return field.span;
        case Kind::Arm: return arm.span;
        case Kind::Decl: return decl ? decl->span : Span{};
    }
    return {};
}

}  // namespace moa::ast
